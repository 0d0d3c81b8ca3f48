"""``predictions.mp4``: H.264 in yuv420p with +faststart, so it plays in every browser.

Frames are piped to the ffmpeg that imageio-ffmpeg bundles; no image file is written.
"""
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


def write_mp4(frames, path, *, size, fps):
    """Encode an iterable of (height, width, 3) uint8 RGB frames; returns the number written.

    Each distinct frame is converted to yuv420p once, here, and a repeated frame (the same
    array object again) reuses those bytes: half the data through the pipe, and no colour
    conversion in ffmpeg.
    """
    import cv2
    import imageio_ffmpeg

    width, height = size
    if (width, height) != even_size(size):
        raise ValueError(f"H.264 in yuv420p needs even sides; got {width}x{height}")
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, codec="libx264",
                                         pix_fmt_in="yuv420p", pix_fmt_out="yuv420p", quality=None,
                                         macro_block_size=2, ffmpeg_log_level="error",
                                         output_params=X264_OUTPUT)
    writer.send(None)  # start ffmpeg
    count = 0
    previous, planes = None, None
    try:
        for frame in frames:
            if frame is not previous:
                previous, planes = frame, cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
            writer.send(planes)
            count += 1
    except BaseException as exc:
        # Stop ffmpeg at once: closing the writer would wait for it to encode what it has, which
        # keeps an interrupted run (SIGINT, SIGTERM) alive for many seconds.
        try:
            writer.throw(KeyboardInterrupt())  # imageio-ffmpeg kills ffmpeg on any BaseException
        except BaseException:
            pass
        if isinstance(exc, (OSError, RuntimeError)):
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ToolError(f"ffmpeg failed while encoding {path}: {first_line}") from None
        raise
    writer.close()
    return count
