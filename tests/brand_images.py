"""Draw the integration's brand images into `custom_components/grid_ledger/brand/`.

    python -m tests.brand_images

The mark: a meter's lightning bolt over three linked ledger blocks, on a rounded tile. Sizes
follow Home Assistant's brand rules: icons 256 x 256 (512 for @2x), logos landscape with the
short side 256 (512 for @2x), PNG with a transparent background, trimmed to the drawing. Each
image is drawn four times larger and scaled down, which smooths its edges.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "grid_ledger" / "brand"
SUPERSAMPLE = 4
TILE = "#0f6e5a"
TILE_DARK = "#1c9a7e"  # lighter, to stand out on a dark background
BOLT = "#f5b82e"
BLOCK = "#ffffff"
TEXT = "#1f2d3a"
TEXT_DARK = "#eef2f5"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
NAME = "Grid Ledger"


def _scaled(points: list[tuple[float, float]], size: int) -> list[tuple[float, float]]:
    return [(x * size, y * size) for x, y in points]


def draw_mark(size: int, tile: str) -> Image.Image:
    """The square mark at `size` pixels, edge to edge (nothing to trim)."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.2, fill=tile)
    bolt = [
        (0.56, 0.10),
        (0.28, 0.50),
        (0.48, 0.50),
        (0.40, 0.70),
        (0.72, 0.32),
        (0.52, 0.32),
        (0.60, 0.10),
    ]
    draw.polygon(_scaled(bolt, big), fill=BOLT)
    # Three ledger blocks, linked: the chain the readings are written to.
    top, bottom, width, gap = 0.76, 0.88, 0.18, 0.07
    left = (1 - 3 * width - 2 * gap) / 2
    middle = (top + bottom) / 2 * big
    for index in range(3):
        x0 = (left + index * (width + gap)) * big
        draw.rounded_rectangle(
            (x0, top * big, x0 + width * big, bottom * big), radius=big * 0.025, fill=BLOCK
        )
        if index:
            draw.line((x0 - gap * big, middle, x0, middle), fill=BLOCK, width=round(big * 0.025))
    return image.resize((size, size), Image.Resampling.LANCZOS)


def draw_logo(height: int, tile: str, text: str) -> Image.Image:
    """The mark and the name side by side, `height` pixels high, trimmed to the drawing."""
    big = height * SUPERSAMPLE
    font = ImageFont.truetype(FONT, round(big * 0.52))
    left, top, right, bottom = font.getbbox(NAME)
    spacing = round(big * 0.16)
    image = Image.new("RGBA", (big + spacing + right - left, big), (0, 0, 0, 0))
    image.paste(draw_mark(big, tile), (0, 0))
    draw = ImageDraw.Draw(image)
    draw.text((big + spacing - left, (big - (bottom - top)) / 2 - top), NAME, font=font, fill=text)
    trimmed = image.crop(image.getbbox())
    width = round(trimmed.width * height / trimmed.height)
    return trimmed.resize((width, height), Image.Resampling.LANCZOS)


def images() -> dict[str, Image.Image]:
    drawn: dict[str, Image.Image] = {}
    for prefix, tile, text in (("", TILE, TEXT), ("dark_", TILE_DARK, TEXT_DARK)):
        for suffix, scale in (("", 1), ("@2x", 2)):
            drawn[f"{prefix}icon{suffix}.png"] = draw_mark(256 * scale, tile)
            drawn[f"{prefix}logo{suffix}.png"] = draw_logo(256 * scale, tile, text)
    return drawn


def main() -> None:
    BRAND.mkdir(exist_ok=True)
    for name, image in images().items():
        image.save(BRAND / name, optimize=True)
        print(f"{name}: {image.width} x {image.height}")


if __name__ == "__main__":
    main()
