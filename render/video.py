"""``predictions.mp4``: H.264 in yuv420p with +faststart, so it plays in every browser.

Frames are piped to the ffmpeg that imageio-ffmpeg bundles; no image file is written.
"""
from mnist_ova import children
from mnist_ova.errors import ToolError

# Fixed encoder settings (thread count included) so the same frames give the same bytes.
# Frames mostly repeat, so the costly searches buy little: no sub-pixel refinement, diamond
# motion search, no B-frames, no look-ahead: faster than "superfast", and smaller files.
X264_OUTPUT = [
    "-preset", "veryfast", "-crf", "23", "-threads", "2",
    "-x264-params", "subme=0:me=dia:bframes=0:rc-lookahead=0:mbtree=0:trellis=0",
    "-movflags", "+faststart", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
]


def even_size(size):
    """The largest size with even sides within ``size``: H.264 in yuv420p halves both sides for colour."""
    width, height = size
    return width - width % 2, height - height % 2


def ffmpeg_command(path, *, size, fps):
    """The ffmpeg that imageio-ffmpeg bundles, reading raw yuv420p frames on stdin."""
    import imageio_ffmpeg

    width, height = size
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{width}x{height}",
            "-pix_fmt", "yuv420p", "-r", str(fps), "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p",
            "-v", "error", *X264_OUTPUT, str(path)]


def write_mp4(frames, path, *, size, fps):
    """Encode an iterable of (height, width, 3) uint8 RGB frames; returns the number written.

    Each distinct frame is converted to yuv420p once, here, and a repeated frame (the same
    array object again) reuses those bytes: half the data through the pipe, and no colour
    conversion in ffmpeg. ffmpeg is a child of ``children.program``: on an error or a signal it is
    killed at once (closing its input would make it encode what it has, for many seconds) and reaped.
    """
    import cv2

    width, height = size
    if (width, height) != even_size(size):
        raise ValueError(f"H.264 in yuv420p needs even sides; got {width}x{height}")
    count = 0
    previous, planes = None, b""
    try:
        with children.program(ffmpeg_command(path, size=size, fps=fps)) as ffmpeg:
            assert ffmpeg.stdin is not None  # program() opens it
            for frame in frames:
                if frame is not previous:
                    previous, planes = frame, cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
                ffmpeg.stdin.write(planes)
                count += 1
    except OSError as exc:  # ffmpeg ended early (its own message is on stderr)
        raise ToolError(f"ffmpeg failed while encoding {path}: {exc.strerror or exc}") from None
    if ffmpeg.returncode != 0:
        raise ToolError(f"ffmpeg failed while encoding {path}: exit status {ffmpeg.returncode}")
    return count
