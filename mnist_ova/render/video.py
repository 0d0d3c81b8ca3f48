"""``predictions.mp4``: H.264 in yuv420p with +faststart, so it plays in every browser.

Frames are piped to the ffmpeg that imageio-ffmpeg bundles; no image file is written.
"""
from mnist_ova import children
from mnist_ova.errors import ToolError

# Fixed encoder settings (thread count included) so the same frames give the same bytes.
# Consecutive frames differ little (bars growing, then a held frame), so the costly searches buy
# little: no sub-pixel refinement, diamond motion search, no B-frames, no look-ahead: faster than
# "superfast", and smaller files.
X264_OUTPUT = [
    "-preset", "veryfast", "-crf", "23", "-threads", "2",
    "-x264-params", "subme=0:me=dia:bframes=0:rc-lookahead=0:mbtree=0:trellis=0",
    "-movflags", "+faststart", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
]


def even_size(size):
    """The largest size with even sides within ``size``: H.264 in yuv420p halves both sides for colour."""
    width, height = size
    return width - width % 2, height - height % 2


def ffmpeg_command(path, *, size, fps, counts=None):
    """The ffmpeg that imageio-ffmpeg bundles, reading raw yuv420p frames on stdin; with ``counts``
    (``frame_times``) each frame is placed at its time and the video has a variable frame rate."""
    import imageio_ffmpeg

    width, height = size
    timing = [] if counts is None else ["-vf", f"setpts='{frame_times(counts)}/({fps}*TB)'", "-fps_mode", "vfr"]
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{width}x{height}",
            "-pix_fmt", "yuv420p", "-r", str(fps), "-i", "-", "-an", *timing, "-vcodec", "libx264",
            "-pix_fmt", "yuv420p", "-v", "error", *X264_OUTPUT, str(path)]


def frame_times(counts):
    """ffmpeg's expression for the start of the N-th frame sent (N from 0), in frame times, when frame i
    is shown ``counts[i]`` frame times; a frame sent after the last (its copy) starts one frame time
    before the end, so the last frame lasts its full count. Counts that repeat with a period (the
    prediction video's grow-then-hold of every example) are written as one period, so the expression
    stays short for any number of frames: start(N) = whole periods + N's place in its period + the
    extra frame times of the frames before it in the period."""
    counts = [int(c) for c in counts]
    if not counts or min(counts) < 1:
        raise ValueError(f"every frame is shown at least one frame time; got counts {counts[:20]}")
    n = len(counts)
    period = next(p for p in range(1, n + 1) if n % p == 0 and counts == counts[:p] * (n // p))
    pattern = counts[:period]
    place = f"mod(N,{period})"
    extra = "".join(f"+{c - 1}*gt({place},{i})" for i, c in enumerate(pattern[:-1]) if c != 1)
    return f"min(floor(N/{period})*{sum(pattern)}+{place}{extra},{sum(counts) - 1})"


def write_mp4(frames, path, *, size, fps, counts=None):
    """Encode an iterable of (height, width, 3) uint8 RGB frames; returns the video's length in frame
    times. ``counts``: how many frame times each frame is shown (default: one each). A held frame is
    sent and encoded once, with its time (a variable frame rate, which every player takes): the
    prediction video's 1800 frame times are 600 distinct frames, half the encoder's CPU time.

    Each frame is converted to yuv420p here, so ffmpeg does no colour conversion. ffmpeg is a child of
    ``children.program``: on an error or a signal it is stopped at once (closing its input would make
    it encode what it has, for many seconds) and reaped.
    """
    import cv2

    width, height = size
    if (width, height) != even_size(size):
        raise ValueError(f"H.264 in yuv420p needs even sides; got {width}x{height}")
    counts = None if counts is None else [int(c) for c in counts]
    if counts is not None:
        frame_times(counts)  # checks them before ffmpeg starts
    timed = counts is not None and any(c != 1 for c in counts)  # else a constant frame rate does it
    sent, planes = 0, b""
    try:
        with children.program(ffmpeg_command(path, size=size, fps=fps, counts=counts if timed else None)) as ffmpeg:
            assert ffmpeg.stdin is not None  # program() opens it
            for frame in frames:
                planes = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
                ffmpeg.stdin.write(planes)
                sent += 1
            if counts is not None and sent != len(counts):
                raise ValueError(f"{sent} frames for {len(counts)} counts")
            if timed and counts[-1] > 1:
                ffmpeg.stdin.write(planes)  # the last frame again, just before the end: the video lasts to it
    except OSError as exc:  # ffmpeg ended early (its own message is on stderr)
        raise ToolError(f"ffmpeg failed while encoding {path}: {exc.strerror or exc}") from None
    if ffmpeg.returncode != 0:
        raise ToolError(f"ffmpeg failed while encoding {path}: exit status {ffmpeg.returncode}")
    return sent if counts is None else sum(counts)
