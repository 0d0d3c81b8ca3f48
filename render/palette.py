"""The colours every deliverable shares (figures, video frames, GIF), defined once as RGB."""
RIGHT = (46, 125, 50)  # a correct prediction
WRONG = (198, 40, 40)  # a wrong one
NEUTRAL = (144, 164, 174)
ACCENT = (21, 101, 192)


def hex_colour(rgb):
    return "#" + "".join(f"{c:02x}" for c in rgb)
