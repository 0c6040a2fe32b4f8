"""Images of the deblurring case study: photographs that ship inside scikit-image.

No download: every image below is stored in scikit-image's wheel (``skimage.data``). The
training, validation and test images are three disjoint sets (chapter "Image deblurring",
section "The inverse problem"): the models are fitted on the training images, every
hyperparameter and early stop is chosen on the validation images, and the test images are used
only for the reported numbers. Crops are taken at random positions, with random flips and 90°
rotations, and scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRAIN_IMAGES", "VALIDATION_IMAGES", "TEST_IMAGES", "load_image", "random_crops"]

#: Training images (``skimage.data.<name>()``).
TRAIN_IMAGES = (
    "brick",
    "grass",
    "gravel",
    "moon",
    "immunohistochemistry",
    "rocket",
    "hubble_deep_field",
    "retina",
    "page",
    "cell",
    "text",
    "stereo_motorcycle",
)
#: Validation images, for hyperparameters and early stops only; photographs taken out of the
#: training list (the other images in scikit-image's wheel are synthetic, binary or too small).
VALIDATION_IMAGES = ("astronaut", "coins", "clock")
#: Test images, disjoint from the others ("cat" is the same photograph as "chelsea", so it is
#: used nowhere).
TEST_IMAGES = ("camera", "coffee", "chelsea")

_ALL_IMAGES = TRAIN_IMAGES + VALIDATION_IMAGES + TEST_IMAGES


def load_image(name: str, colour: bool) -> np.ndarray:
    """``skimage.data.<name>()`` as float32 in [0, 1], shape (C, H, W), C = 3 or 1.

    Greyscale images are repeated into three channels when ``colour`` is true; colour images
    are converted to luminance when it is false.
    """
    import skimage.data
    from skimage.color import rgb2gray

    if name not in _ALL_IMAGES:
        raise ValueError(f"unknown image {name!r}; use one of {', '.join(_ALL_IMAGES)}")
    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle returns (left, right, disparity)
        image = image[0]
    image = np.asarray(image, dtype=np.float64)
    image = image / 255.0 if image.max() > 1 else image
    if image.ndim == 3:
        image = image[..., :3]
        image = image.transpose(2, 0, 1) if colour else rgb2gray(image)[None]
    else:
        image = np.repeat(image[None], 3, axis=0) if colour else image[None]
    return np.ascontiguousarray(image, dtype=np.float32)


def random_crops(
    names,
    count: int,
    size: int,
    colour: bool,
    rng: np.random.Generator,
    balanced: bool = False,
    return_sources: bool = False,
):
    """``count`` random crops of ``size`` × ``size`` pixels from the named images.

    Each crop picks an image (uniformly at random, or with ``balanced`` the images in turn, so
    that every image gives the same number of crops up to one), a position uniformly, then a
    random horizontal flip and a random multiple of 90° rotation. Returns float32 of shape
    (count, C, size, size); with ``return_sources`` also the index into ``names`` of each crop's
    image (the blocks of the chapter's paired comparisons).
    """
    if not (isinstance(count, int) and count >= 1 and isinstance(size, int) and size >= 1):
        raise ValueError(f"count and size must be positive integers, got {count!r}, {size!r}")
    names = tuple(names)
    images = [load_image(name, colour) for name in names]
    for name, image in zip(names, images, strict=True):
        if min(image.shape[1:]) < size:
            raise ValueError(f"image {name!r} of shape {image.shape} is smaller than {size}")
    crops = np.empty((count, images[0].shape[0], size, size), dtype=np.float32)
    sources = np.empty(count, dtype=np.int64)
    for i in range(count):
        source = i % len(images) if balanced else int(rng.integers(len(images)))
        image = images[source]
        top = rng.integers(image.shape[1] - size + 1)
        left = rng.integers(image.shape[2] - size + 1)
        crop = image[:, top : top + size, left : left + size]
        if rng.random() < 0.5:
            crop = crop[:, :, ::-1]
        crops[i] = np.rot90(crop, k=int(rng.integers(4)), axes=(1, 2))
        sources[i] = source
    return (crops, sources) if return_sources else crops
