"""The eight scene templates: their data, and the layouts that make each one its own.

A street with cars, a motorway gantry, appliances, shelves of boxes, a game HUD, an inventory
grid, a menu and a status bar. Each layout draws its objects, puts the answer on the target
(:meth:`~ps3_eval.probe4k.painter.Drawing.label` gives every object its label), and records the
facts the question names and the regions its clutter goes to; the rest is :class:`Scene` data
that :func:`~ps3_eval.probe4k.painter.paint` runs.
"""

from __future__ import annotations

from ps3_eval.probe4k.drawing import (
    Canvas,
    Color,
    contrast,
    detail_caps,
    place,
    rand_color,
    text_wh,
)
from ps3_eval.probe4k.item import IMAGE_SIZE, Box
from ps3_eval.probe4k.painter import Clutter, Drawing, Scene
from ps3_eval.probe4k.strings import code, word

W, H = IMAGE_SIZE

NAMED_COLORS: dict[str, Color] = {
    "red": (196, 30, 36), "blue": (30, 70, 200), "green": (30, 140, 60),
    "yellow": (235, 200, 30), "white": (236, 236, 232), "black": (28, 28, 30),
    "orange": (235, 120, 20), "purple": (120, 50, 160), "silver": (160, 165, 170),
}  # fmt: skip
"""Colours a question can name an object by."""


# ---------------------------------------------------------------------------
# Layouts: the part of each scene that is its own
# ---------------------------------------------------------------------------


def _car(cv: Canvas, x: int, y: int, plate_cap: int, color: Color, plate: str) -> Box:
    """Draws a rear view of a car with its plate; returns the plate text bbox."""
    d = cv.draw
    tw, _ = text_wh(plate, plate_cap)
    pw, ph = tw + plate_cap * 2, int(plate_cap * 2.0)
    cw = max(int(pw * 3.6), 60)
    ch = int(cw * 0.62)
    d.rounded_rectangle((x, y + ch // 3, x + cw, y + ch), radius=cw // 12, fill=color)
    d.rounded_rectangle(
        (x + cw // 8, y, x + cw - cw // 8, y + ch // 3 + cw // 20), radius=cw // 14, fill=color
    )
    d.rectangle((x + cw // 6, y + cw // 30, x + cw - cw // 6, y + ch // 3), fill=(60, 75, 90))
    for lx in (x + cw // 14, x + cw - cw // 14 - cw // 7):  # tail lights
        d.rectangle((lx, y + ch // 2, lx + cw // 7, y + ch // 2 + ch // 9), fill=(200, 20, 20))
    for wx in (x + cw // 12, x + cw - cw // 12 - cw // 6):
        d.rectangle((wx, y + ch, wx + cw // 6, y + ch + ch // 8), fill=(15, 15, 15))
    px, py = x + (cw - pw) // 2, y + int(ch * 0.68)
    d.rectangle((px, py, px + pw, py + ph), fill=(250, 250, 245), outline=(20, 20, 20))
    cv.reserved.append((x, y, x + cw, y + ch + ch // 8))
    return cv.text((px + pw // 2, py + ph // 2), plate, plate_cap, (15, 15, 20), anchor="mm")


def _street(dr: Drawing) -> None:
    cv, cap, truth = dr.cv, dr.cap, dr.truth
    rng, d = cv.rng, cv.draw
    horizon = rng.randint(700, 900)
    d.rectangle((0, horizon, W, H), fill=(92, 94, 98))
    for lane in range(1, 4):  # perspective lane markings
        x_far = 1920 + (lane - 2) * 160
        x_near = 1920 + (lane - 2) * 1500
        d.line((x_far, horizon, x_near, H), fill=(230, 230, 220), width=10)
    for _ in range(rng.randint(5, 9)):  # buildings on the horizon
        bw, bh = rng.randint(150, 500), rng.randint(200, 600)
        bx = rng.randint(0, W - bw)
        d.rectangle((bx, horizon - bh, bx + bw, horizon), fill=rand_color(rng, 60, 160))
    colors = list(NAMED_COLORS)
    rng.shuffle(colors)
    # The target car first so it always finds room; others are bigger or smaller.
    tw, _ = text_wh(truth, cap)
    cw = int((tw + cap * 2) * 3.6)
    x, y = place(cv, cw, int(cw * 0.75), (80, horizon + 60, W - 80, 2080))
    dr.bbox = _car(cv, x, y, cap, NAMED_COLORS[colors[0]], truth)
    for color in colors[1 : rng.randint(4, 7)]:
        pcap, plate = dr.label(False, detail_caps(cap)[:6])
        pw, _ = text_wh(plate, pcap)
        ocw = int((pw + pcap * 2) * 3.6)
        if ocw > 1500:
            continue
        ox, oy = place(cv, ocw, int(ocw * 0.75), (40, horizon + 40, W - 40, 2120))
        if cv.free((ox, oy, ox + ocw, oy + int(ocw * 0.75)), pad=10):
            _car(cv, ox, oy, pcap, NAMED_COLORS[color], plate)
    dr.facts["target_color"] = colors[0]
    dr.regions.update(sky=(0, 0, W, horizon), ground=(0, horizon, W, H))


def _gantry(dr: Drawing) -> None:
    cv = dr.cv
    rng, d = cv.rng, cv.draw
    d.rectangle((0, 1300, W, H), fill=(88, 90, 94))
    beam_y = rng.randint(250, 450)
    d.rectangle((0, beam_y - 30, W, beam_y), fill=(120, 120, 125))
    for px in (200, W - 260):
        d.rectangle((px, beam_y, px + 60, 1500), fill=(120, 120, 125))
    n_panels = rng.randint(2, 4)
    slot = (W - 600) // n_panels
    target = rng.randrange(n_panels)
    dests: list[str] = []
    for k in range(n_panels):
        x0 = 320 + k * slot + 30
        x1 = x0 + slot - 60
        y0 = beam_y + 10
        y1 = y0 + rng.randint(420, 640)
        d.rectangle((x0, y0, x1, y1), fill=(20, 110, 60), outline=(240, 240, 240), width=6)
        dest = cv.safe(lambda: word(rng))
        while dest in dests:
            dest = cv.safe(lambda: word(rng))
        dests.append(dest)
        cv.text((x0 + 40, y0 + 110), dest, 70, (245, 245, 245))
        cv.text((x0 + 40, y0 + 200), cv.safe(lambda: word(rng)), 40, (245, 245, 245))
        cv.reserved.append((x0, y0, x1, y1))
        ecap, label = dr.label(k == target, (10, 16, 24, 40))
        tw, th = text_wh(label, ecap)
        tx0, ty0 = x1 - tw - 2 * ecap - 20, y1 - th - 2 * ecap - 20
        d.rectangle((tx0, ty0, x1 - 20, y1 - 20), fill=(240, 240, 240))
        b = cv.text(((tx0 + x1 - 20) // 2, (ty0 + y1 - 20) // 2), label, ecap, (10, 60, 30), "mm")
        if k == target:
            dr.bbox = b
        ex = max(x0 + 40, tx0 - text_wh("EXIT", ecap)[0] - ecap)
        cv.text((ex, (ty0 + y1 - 20) // 2), "EXIT", ecap, (245, 245, 245), "lm")
    dr.facts.update(destination=dests[target], panels=n_panels)


def _appliances(dr: Drawing) -> None:
    cv = dr.cv
    rng, d = cv.rng, cv.draw
    d.rectangle((0, 1500, W, H), fill=(150, 120, 90))  # floor
    names = ["fridge", "washing machine", "microwave", "oven", "dishwasher", "dryer"]
    rng.shuffle(names)
    n = rng.randint(3, 4)
    target = rng.randrange(n)
    slot = W // n
    for k in range(n):
        w = rng.randint(slot // 2, slot - 120)
        h = rng.randint(700, 1300) if names[k] != "microwave" else rng.randint(400, 600)
        x0 = k * slot + (slot - w) // 2
        y0 = 1600 - h
        body = rand_color(rng, 170, 245)
        d.rectangle((x0, y0, x0 + w, 1600), fill=body, outline=(60, 60, 60), width=5)
        d.rectangle((x0 + 30, y0 + 30, x0 + w - 30, y0 + h // 3), outline=(90, 90, 90), width=4)
        d.ellipse(
            (x0 + w // 2 - 60, y0 + h // 2 - 60, x0 + w // 2 + 60, y0 + h // 2 + 60),
            fill=rand_color(rng),
        )
        cv.text((x0 + 50, y0 + 110), cv.safe(lambda: word(rng)).upper(), 48, (40, 40, 50))
        cv.reserved.append((x0, y0, x0 + w, 1600))
        lcap, model = dr.label(k == target, (10, 14, 22, 34))
        tw, _ = text_wh(model, lcap)
        lw, lh = tw + 3 * lcap, 5 * lcap
        lx, ly = x0 + w - lw - 40, 1600 - lh - 60
        d.rectangle((lx, ly, lx + lw, ly + lh), fill=(250, 250, 250), outline=(30, 30, 30))
        cv.text((lx + lcap, ly + int(1.5 * lcap)), "MODEL", max(6, lcap * 2 // 3), (30, 30, 30))
        b = cv.text((lx + int(1.5 * lcap), ly + int(3.8 * lcap)), model, lcap, (10, 10, 10))
        if k == target:
            dr.bbox = b
    dr.facts["appliance"] = names[target]


def _shelves(dr: Drawing) -> None:
    cv = dr.cv
    rng, d = cv.rng, cv.draw
    shelves = [700, 1400, 2100]
    for sy in shelves:
        d.rectangle((0, sy, W, sy + 40), fill=(110, 80, 50))
    colors = list(NAMED_COLORS)
    rng.shuffle(colors)
    target_color = colors[0]
    slots = [(row, col) for row in range(3) for col in range(6)]
    rng.shuffle(slots)
    for k, (row, col) in enumerate(slots[: rng.randint(6, 9)]):
        target = k == 0
        color = colors[k % len(colors)] if target or k < len(colors) else rng.choice(colors[1:])
        if not target and color == target_color:
            continue
        w, h = rng.randint(380, 600), rng.randint(400, 620)
        x0 = col * 640 + (640 - w) // 2
        y0 = shelves[row] - h
        fill = NAMED_COLORS[color]
        d.rectangle((x0, y0, x0 + w, shelves[row]), fill=fill, outline=(30, 30, 30), width=4)
        cv.text((x0 + 30, y0 + 90), cv.safe(lambda: word(rng)), 56, contrast(fill))
        cv.reserved.append((x0, y0, x0 + w, shelves[row]))
        pcap, lot = dr.label(target, (10, 14, 22, 34))
        tw, th = text_wh("LOT:" + lot, pcap)
        tw += 2 * pcap  # label-value gap, see _status_bar
        px, py = x0 + w - tw - 2 * pcap - 20, shelves[row] - 2 * pcap - 20
        d.rectangle((px - pcap, py - th - pcap, px + tw + pcap, py + pcap), fill=(250, 250, 250))
        cv.text((px, py), "LOT:", pcap, (10, 10, 10))
        b = cv.text((px + text_wh("LOT:", pcap)[0] + 2 * pcap, py), lot, pcap, (10, 10, 10))
        if target:
            dr.bbox = b
    dr.facts["target_color"] = target_color


def _hills(dr: Drawing) -> None:
    rng = dr.cv.rng
    for _ in range(6):
        cx, r = rng.randint(0, W), rng.randint(400, 1200)
        dr.cv.draw.ellipse((cx - r, 1300 - r // 3, cx + r, 1300 + r), fill=rand_color(rng, 40, 140))


def _hud(dr: Drawing) -> None:
    cv = dr.cv
    rng, d = cv.rng, cv.draw
    counters = ["AMMO", "GOLD", "SCORE", "KILLS", "ARROWS"]
    rng.shuffle(counters)
    corners = [(60, 60), (W - 60, 60), (60, 2100), (W - 60, 2100)]
    rng.shuffle(corners)
    for k, (name, (cx, cy)) in enumerate(zip(counters[:4], corners, strict=True)):
        hcap, value = dr.label(k == 0, (10, 16, 24, 40, 60))
        lw_, th = text_wh(name, hcap)
        lw_ += 2 * hcap  # label-value gap, see _status_bar
        vw, _ = text_wh(value, hcap)
        w, h = lw_ + vw + 2 * hcap, th + 2 * hcap
        x0 = cx if cx < 1920 else cx - w
        y0 = cy if cy < 1080 else cy - h
        d.rectangle((x0, y0, x0 + w, y0 + h), fill=(20, 20, 30))
        cv.text((x0 + hcap, y0 + hcap + th), name, hcap, (200, 200, 120))
        b = cv.text((x0 + hcap + lw_, y0 + hcap + th), value, hcap, (250, 250, 250))
        cv.reserved.append((x0, y0, x0 + w, y0 + h))
        if k == 0:
            dr.bbox = b
    d.ellipse((1700, 1800, 2140, 2140), fill=(30, 40, 30), outline=(200, 200, 200), width=6)
    cv.reserved.append((1700, 1800, 2140, 2140))  # the minimap
    dr.facts["counter"] = counters[0]


def _inventory(dr: Drawing) -> None:
    cv = dr.cv
    rng, d = cv.rng, cv.draw
    cols, rows = rng.randint(4, 6), rng.randint(2, 3)
    cell = 420
    gx0 = (W - cols * cell) // 2
    gy0 = rng.randint(300, 2160 - rows * cell - 100)
    d.rectangle(
        (gx0 - 40, gy0 - 40, gx0 + cols * cell + 40, gy0 + rows * cell + 40), fill=(25, 22, 30)
    )
    cv.reserved.append((gx0 - 40, gy0 - 120, gx0 + cols * cell + 40, gy0 + rows * cell + 40))
    cv.text((gx0, gy0 - 60), "INVENTORY", 48, (230, 210, 150))
    target = (rng.randrange(rows), rng.randrange(cols))
    for r in range(rows):
        for c in range(cols):
            x0, y0 = gx0 + c * cell + 15, gy0 + r * cell + 15
            is_t = (r, c) == target
            d.rectangle(
                (x0, y0, x0 + cell - 30, y0 + cell - 30),
                fill=(55, 50, 65),
                outline=(255, 210, 0) if is_t else (90, 90, 100),
                width=14 if is_t else 4,
            )
            d.ellipse((x0 + 110, y0 + 50, x0 + 280, y0 + 220), fill=rand_color(rng, 60, 255))
            icap, name = dr.label(is_t, (10, 14, 22, 30))
            b = cv.text((x0 + (cell - 30) // 2, y0 + cell - 70), name, icap, (240, 240, 240), "ms")
            if is_t:
                dr.bbox = b
    dr.facts["slot"] = list(target)


def _menu(dr: Drawing) -> None:
    cv, cap, truth = dr.cv, dr.cap, dr.truth
    rng, d = cv.rng, cv.draw
    wx0, wy0 = rng.randint(40, 400), rng.randint(40, 200)
    wx1, wy1 = W - rng.randint(40, 400), H - rng.randint(40, 200)
    d.rectangle((wx0, wy0, wx1, wy1), fill=(246, 246, 248), outline=(120, 120, 130), width=3)
    d.rectangle((wx0, wy0, wx1, wy0 + 60), fill=(52, 58, 70))
    cv.text((wx0 + 30, wy0 + 42), cv.safe(lambda: word(rng)) + " - Editor", 26, (240, 240, 240))
    bar_h = max(40, 3 * cap)
    d.rectangle((wx0, wy0 + 60, wx1, wy0 + 60 + bar_h), fill=(228, 228, 232))
    headers = [cv.safe(lambda: word(rng, (2, 2))) for _ in range(rng.randint(4, 6))]
    open_k = rng.randrange(len(headers))
    hx = wx0 + 30
    entries = [cv.safe(lambda: word(rng)) for _ in range(rng.randint(4, 7))]
    t_idx = rng.randrange(1, len(entries))
    entries[t_idx] = truth
    menu_x = hx
    for k, head in enumerate(headers):
        if k == open_k:
            menu_x = hx
        cv.text((hx, wy0 + 60 + bar_h // 2), head, cap, (20, 20, 30), "lm")
        hx += text_wh(head, cap)[0] + 3 * cap
    # The open drop-down menu below the header.
    ew = max(text_wh(e, cap)[0] for e in entries) + 4 * cap
    row = int(cap * 2.4)
    my0 = wy0 + 60 + bar_h
    d.rectangle(
        (menu_x - cap, my0, menu_x - cap + ew, my0 + row * len(entries) + cap),
        fill=(255, 255, 255),
        outline=(100, 100, 110),
        width=2,
    )
    cv.reserved.append((wx0, wy0, wx1, my0 + row * len(entries) + cap + 20))
    for k, e in enumerate(entries):
        b = cv.text((menu_x, my0 + row * k + row // 2 + cap // 2), e, cap, (20, 20, 30), "lm")
        if k == t_idx:
            dr.bbox = b
    dr.facts.update(menu=headers[open_k], above=entries[t_idx - 1])
    # Sidebar and document body: plenty of readable text of other sizes.
    dr.regions.update(
        document=(wx0 + 20, my0 + row * len(entries) + 60, wx1 - 20, wy1 - 80),
        window=(wx0 + 20, wy0 + 80, wx1 - 20, wy1 - 80),
    )


def _status_bar(dr: Drawing) -> None:
    cv, cap, truth = dr.cv, dr.cap, dr.truth
    rng, d = cv.rng, cv.draw
    bar_h = max(44, int(cap * 2.6))
    at_top = rng.random() < 0.5
    by0 = 0 if at_top else H - bar_h
    d.rectangle((0, by0, W, by0 + bar_h), fill=(30, 90, 160))
    cv.reserved.append((0, by0, W, by0 + bar_h))
    fields = [
        f"Ln {rng.randint(1, 999)}, Col {rng.randint(1, 99)}",
        "UTF-8",
        f"{rng.randint(10, 23)}:{rng.randint(10, 59)}",
        f"{rng.randint(10, 99)}%",
        cv.safe(lambda: word(rng, (2, 2))),
    ]
    fields = [f for f in fields if not cv.clashes(f)]
    fields.insert(rng.randint(0, len(fields)), "BUILD")
    x = 40
    for f in fields:
        fcap = cap if rng.random() < 0.7 else max(8, int(cap * 1.3))
        if f == "BUILD":
            cv.text((x, by0 + bar_h // 2), "Build:", cap, (240, 240, 240), "lm")
            # Colon plus a 2-cap gap: with a plain space (even a 1-cap gap) the
            # OCR returns one word ("Build7E88V") and whole-word matching fails.
            x += text_wh("Build:", cap)[0] + 2 * cap
            dr.bbox = cv.text((x, by0 + bar_h // 2), truth, cap, (240, 240, 240), "lm")
            x += text_wh(truth, cap)[0] + 4 * cap
        else:
            cv.text((x, by0 + bar_h // 2), f, fcap, (240, 240, 240), "lm")
            x += text_wh(f, fcap)[0] + 4 * fcap
    desktop = (0, bar_h + 20, W, H) if at_top else (0, 0, W, by0 - 20)
    for _ in range(rng.randint(3, 5)):  # windows
        w, h = rng.randint(700, 1500), rng.randint(500, 1000)
        x0, y0 = place(cv, w, h, desktop, pad=10)
        d.rectangle((x0, y0, x0 + w, y0 + h), fill=(250, 250, 250), outline=(90, 90, 90), width=3)
        d.rectangle((x0, y0, x0 + w, y0 + 50), fill=rand_color(rng, 60, 200))
    dr.facts["bar"] = "top" if at_top else "bottom"
    dr.regions["desktop"] = desktop


# ---------------------------------------------------------------------------
# The templates, per category in the order an item's generator picks from
# ---------------------------------------------------------------------------

SCENES: tuple[Scene, ...] = (
    Scene(
        "licence_plate",
        "autonomous_vehicle",
        (150, 190, 235),
        (210, 225, 240),
        lambda r: code(r, "AA99 AAA"),
        "What is the licence plate of the {target_color} car?",
        (
            _street,
            Clutter("shapes", 12, "ground"),
            Clutter("texts", 14, "sky", (14, 22, 32, 48, 70)),
            Clutter("texts", 8, "ground"),
        ),
    ),
    Scene(
        "gantry_exit",
        "autonomous_vehicle",
        (120, 170, 230),
        (200, 215, 235),
        lambda r: code(r, r.choice(["99A", "999"])),
        "What exit number is shown on the overhead gantry sign for {destination}?",
        (
            _gantry,
            Clutter("shapes", 10, (0, 1300, W, H)),
            Clutter("texts", 16, (0, 1100, W, H)),
        ),
        other=lambda r: code(r, "99A"),
    ),
    Scene(
        "appliance_label",
        "household",
        (225, 220, 205),
        (190, 180, 165),
        lambda r: code(r, "AA-9A99"),
        "What is the model number on the label of the {appliance}?",
        (_appliances, Clutter("shapes", 14, (0, 1600, W, H)), Clutter("texts", 18)),
    ),
    Scene(
        "package_lot",
        "household",
        (235, 232, 225),
        (205, 200, 190),
        lambda r: code(r, "9A99A"),
        "What lot code is printed on the {target_color} box?",
        (_shelves, Clutter("shapes", 8), Clutter("texts", 18)),
    ),
    # Digit-only HUD counters (light on a dark panel) are easier to read: at the nominal 18 px
    # "2K" height the OCR still read 3 of 4 of them at 756 px; at 14 px it read 0 of 12 at 756
    # and 12 of 12 at 1512. (Shrinking their "4K" height too would hurt: 7 px read 9/12 at 3780.)
    Scene(
        "hud_counter",
        "gaming",
        (70, 120, 200),
        (40, 70, 40),
        lambda r: f"{r.randint(10, 999)}/{r.randint(100, 999)}",
        "What does the {counter} counter in the HUD show?",
        (_hills, Clutter("shapes", 25, (0, 300, W, H)), _hud, Clutter("texts", 22)),
        keep_class=True,
        heights={"2K": 14},
    ),
    Scene(
        "inventory_item",
        "gaming",
        (30, 30, 50),
        (60, 40, 60),
        lambda r: word(r, (2, 3)),
        "What is the name of the item in the highlighted inventory slot?",
        (Clutter("shapes", 20), _inventory, Clutter("texts", 18)),
    ),
    Scene(
        "menu_entry",
        "ui",
        (40, 70, 110),
        (90, 120, 150),
        lambda r: word(r, (2, 3)),
        "In the open '{menu}' menu, which entry comes directly below '{above}'?",
        (
            _menu,
            Clutter("texts", 28, "document"),
            Clutter("texts", 10, "window", (14, 22, 32)),
            Clutter("shapes", 8, "window"),
        ),
    ),
    Scene(
        "status_bar_build",
        "ui",
        (60, 100, 140),
        (140, 170, 190),
        lambda r: code(r, "9A99A"),
        "What build number is shown in the status bar?",
        (_status_bar, Clutter("texts", 30, "desktop")),
    ),
)
"""Every scene template."""


def scenes_of(category: str) -> list[Scene]:
    """The templates of one category, in the order an item's generator picks from."""
    return [s for s in SCENES if s.category == category]
