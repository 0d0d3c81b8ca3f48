import re
import subprocess

import numpy as np
import pytest

from mnist_ova.render import frames, gif, video
from tests.render.test_frames import NAMES


def probe(path):
    """Codec, pixel format and size as ffmpeg (imageio-ffmpeg's bundled binary) reads them."""
    import imageio_ffmpeg

    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True).stderr
    stream = re.search(r"Video: (\w+).*?, (\w+)(?:\(.*?\))?, (\d+)x(\d+)", info)
    n_frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return stream.group(1), stream.group(2), (int(stream.group(3)), int(stream.group(4))), n_frames


@pytest.fixture(scope="module")
def examples():
    rng = np.random.RandomState(0)
    out = []
    for k in range(4):
        proba = rng.dirichlet(np.ones(10))
        out.append(frames.Example(rng.randint(0, 256, (28, 28)).astype(np.uint8), k, int(np.argmax(proba)), proba))
    return out


def test_mp4_is_h264_yuv420p_faststart_with_every_frame(tmp_path, examples):
    path = tmp_path / "v.mp4"
    fps, seconds, size = 12, 0.5, (320, 240)
    written = video.write_mp4(frames.frames(examples, NAMES, size, fps, seconds), path, size=size, fps=fps)
    assert written == len(examples) * fps * seconds
    codec, pix_fmt, shape, n_frames = probe(path)
    assert (codec, pix_fmt, shape, n_frames) == ("h264", "yuv420p", size, len(examples) * fps * seconds)
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "+faststart puts the index first, for streaming"


def test_mp4_of_the_same_frames_is_the_same_bytes(tmp_path, examples):
    for name in ("a.mp4", "b.mp4"):
        video.write_mp4(frames.frames(examples, NAMES, (320, 240), 10, 0.5), tmp_path / name, size=(320, 240), fps=10)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_odd_video_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="even sides"):
        video.write_mp4([], tmp_path / "v.mp4", size=(321, 240), fps=10)


def test_gif_holds_each_example_for_its_time_at_the_small_size(tmp_path, examples):
    from PIL import Image

    path = tmp_path / "p.gif"
    gif.write_gif(examples, NAMES, path, size=(320, 180), fps=10, seconds=1.0)
    with Image.open(path) as image:
        assert image.size == (320, 180)
        durations = []
        for i in range(image.n_frames):
            image.seek(i)
            durations.append(image.info["duration"])
            if i == image.n_frames - 1:
                last = np.asarray(image.convert("RGB"))
    assert sum(durations) == pytest.approx(len(examples) * 1000, abs=len(examples) * 10)
    assert image.n_frames < len(examples) * 10, "a held frame is stored once"
    assert tuple(last[2, 2]) == (255, 255, 255), "the palette keeps the white background white"
