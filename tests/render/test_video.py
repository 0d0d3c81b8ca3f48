import re
import subprocess

import numpy as np
import pytest

from mnist_ova.render import frames, gif, video
from tests.render.test_frames import NAMES


def probe(path):
    """Codec, pixel format, size, stored frames and duration as ffmpeg (imageio-ffmpeg's bundled binary)
    reads them."""
    import imageio_ffmpeg

    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True).stderr
    stream = re.search(r"Video: (\w+).*?, (\w+)(?:\(.*?\))?, (\d+)x(\d+)", info)
    n_frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    return stream.group(1), stream.group(2), (int(stream.group(3)), int(stream.group(4))), n_frames, seconds


def frame_times(path, fps, size):
    """Every frame time of the video (decoded at a constant ``fps``, a held frame repeated), as RGB."""
    import imageio_ffmpeg

    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-fps_mode", "cfr",
                          "-r", str(fps), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3)


@pytest.fixture(scope="module")
def examples():
    rng = np.random.RandomState(0)
    out = []
    for k in range(4):
        proba = rng.dirichlet(np.ones(10))
        out.append(frames.Example(rng.randint(0, 256, (28, 28)).astype(np.uint8), k, int(np.argmax(proba)), proba))
    return out


def test_mp4_is_h264_yuv420p_faststart_with_every_frame_at_its_time(tmp_path, examples):
    path = tmp_path / "v.mp4"
    fps, seconds, size = 12, 0.5, (320, 240)
    distinct = list(frames.frames(examples, NAMES, size, fps, seconds))
    counts = frames.frame_counts(len(examples), fps, seconds)
    written = video.write_mp4(distinct, path, size=size, fps=fps, counts=counts)
    assert written == len(examples) * fps * seconds == sum(counts)
    codec, pix_fmt, shape, n_frames, duration = probe(path)
    # A held frame is stored once (and the last once more, just before the end, so the video lasts to it).
    assert (codec, pix_fmt, shape, n_frames) == ("h264", "yuv420p", size, len(distinct) + 1)
    assert duration == pytest.approx(len(examples) * seconds, abs=1e-3)
    shown = frame_times(path, fps, size)
    expected = [frame for frame, count in zip(distinct, counts) for _ in range(count)]
    assert len(shown) == len(expected)
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(shown, expected)) < 3  # each at its time
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "+faststart puts the index first, for streaming"


@pytest.mark.parametrize("counts", [[1, 1, 1, 5] * 3, [3, 1, 2, 7], [2], [1, 1, 4], [2, 1], [1]])
def test_frame_times_start_each_frame_after_the_counts_before_it(counts):
    expression = video.frame_times(counts)
    starts = [eval(expression.replace("N", str(n)), {"min": min, "floor": int, "mod": lambda a, b: a % b,
                                                     "gt": lambda a, b: int(a > b)}) for n in range(len(counts) + 1)]
    assert starts == [*np.cumsum([0, *counts[:-1]]), sum(counts) - 1]
    assert len(video.frame_times(([1] * 9 + [21]) * 10_000)) < 80  # one period, however many examples


def test_mp4_of_the_same_frames_is_the_same_bytes(tmp_path, examples):
    for name in ("a.mp4", "b.mp4"):
        video.write_mp4(frames.frames(examples, NAMES, (320, 240), 10, 0.5), tmp_path / name, size=(320, 240),
                        fps=10, counts=frames.frame_counts(len(examples), 10, 0.5))
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


@pytest.mark.parametrize("counts", [[], [2, 0, 1], [-1]])
def test_counts_below_one_frame_time_are_refused(counts):
    with pytest.raises(ValueError, match="at least one frame time"):
        video.frame_times(counts)


def test_frames_and_counts_must_agree_and_a_last_count_of_one_adds_no_frame(tmp_path, examples):
    distinct = list(frames.frames(examples[:1], NAMES, (320, 240), 10, 0.5))
    with pytest.raises(ValueError, match="4 frames for 5 counts"):
        video.write_mp4(iter(distinct), tmp_path / "v.mp4", size=(320, 240), fps=10, counts=[1, 1, 1, 1, 1])
    counts = (n for n in [2, 1, 3, 1])  # a generator is read once, and whole
    assert video.write_mp4(iter(distinct), tmp_path / "v.mp4", size=(320, 240), fps=10, counts=counts) == 7
    _, _, _, n_frames, duration = probe(tmp_path / "v.mp4")
    assert (n_frames, duration) == (4, pytest.approx(0.7, abs=1e-3))


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
