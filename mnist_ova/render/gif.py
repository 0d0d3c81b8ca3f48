"""``predictions.gif``: the video's frames, composed directly at a smaller size and frame rate.

No MP4 is decoded. Every frame shares one palette computed from the frames themselves,
each distinct frame is stored once with its duration, and Pillow stores only the part of a
frame that changed.
"""
import numpy as np

from mnist_ova.render import frames as frame_composer

PALETTE_SAMPLES = 12
SIZE, FPS = (640, 360), 10  # smaller and slower than the MP4: a GIF stores every frame's pixels


def write_gif(examples, class_names, path, *, size=SIZE, fps=FPS, seconds=1.0):
    """Write the GIF; returns the number of distinct frames stored."""
    from PIL import Image

    stills, durations = [], []
    for example in examples:
        for frame, count in frame_composer.example_frames(example, class_names, size, fps, seconds):
            stills.append(frame)
            durations.append(round(1000 * count / fps))
    return write_stills(stills, durations, path, exact=(frame_composer.WHITE, (0, 0, 0), frame_composer.INK,
                                                        frame_composer.GRID, frame_composer.BAR,
                                                        frame_composer.RIGHT, frame_composer.WRONG))


def write_stills(stills, durations, path, *, exact):
    """An animated GIF of distinct frames ``stills``, each shown ``durations`` ms, on one palette that
    holds the flat colours ``exact`` exactly; returns the number of frames stored."""
    from PIL import Image

    palette = _palette(stills, list(exact))
    images = [Image.fromarray(s).quantize(palette=palette, dither=Image.Dither.NONE) for s in stills]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
    return len(images)


def _palette(stills, exact):
    """256 colours that fit these frames: the composer's own flat colours ``exact`` exactly (median cut
    would average the white background into a grey), the rest by median cut over a mosaic
    of evenly spaced frames."""
    from PIL import Image

    picks = np.linspace(0, len(stills) - 1, min(PALETTE_SAMPLES, len(stills))).round().astype(int)
    mosaic = np.concatenate([stills[i] for i in picks], axis=0)
    fitted = Image.fromarray(mosaic).quantize(colors=256 - len(exact), method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
    fitted_rgb = np.array((fitted.getpalette() or [])[: 3 * (256 - len(exact))]).reshape(-1, 3)
    # Pillow maps a pixel to a close palette entry, not always the closest: drop fitted colours
    # so near an exact one that they would catch its pixels.
    distance = np.abs(fitted_rgb[:, None, :] - np.array(exact)[None, :, :]).max(axis=2).min(axis=1)
    colours = np.concatenate([np.array(exact), fitted_rgb[distance > 6]]).astype(np.uint8)
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours.ravel().tolist())
    return palette
