"""The colours every deliverable shares (figures, video frames, GIF), defined once as RGB.

All of them are chosen to stay apart for the common colour-vision deficiencies: right and wrong
are blue and vermillion (Okabe & Ito), not green and red, and the classes take Paul Tol's
"muted" scheme, made for colour-blind readers. Every figure that tells classes apart by colour
asks ``class_colour`` so that one class has one colour everywhere.
"""
RIGHT = (0, 107, 164)  # a correct prediction: Okabe-Ito blue, darkened for text on white (5.6:1)
WRONG = (192, 64, 0)  # a wrong one: Okabe-Ito vermillion, darkened likewise (4.9:1)
NEUTRAL = (176, 190, 197)  # bars that are neither
ACCENT = (21, 101, 192)
MUTED = (117, 117, 117)  # secondary text and reference lines

# Paul Tol's muted scheme (9 colours) and a dark grey as the tenth.
CLASS_COLOURS = ((51, 34, 136), (136, 204, 238), (68, 170, 153), (17, 119, 51), (153, 153, 51),
                 (221, 204, 119), (204, 102, 119), (136, 34, 85), (170, 68, 153), (85, 85, 85))
# Past ten classes the colours repeat, each round with its own line style; past a chart's key limit
# (figures.KEY_LIMIT) only a few classes keep a colour and the others share this grey.
OTHERS = (199, 204, 209)
CLASS_DASHES = ("solid", (0, (5, 2)), (0, (1, 1.5)))


def hex_colour(rgb):
    return "#" + "".join(f"{c:02x}" for c in rgb)


def class_colour(k):
    """The colour of class ``k`` (its index) in every figure, as #rrggbb."""
    return hex_colour(CLASS_COLOURS[k % len(CLASS_COLOURS)])


def class_dash(k):
    """The line style of class ``k``: solid for the first ten, then dashed, then dotted."""
    return CLASS_DASHES[(k // len(CLASS_COLOURS)) % len(CLASS_DASHES)]
