"""posedy: Dynamic Convolution for top-down human pose estimation."""

__version__ = "0.1.0"

import os as _os

# OpenCV reads this once, when it is loaded: an image whose header claims more pixels than
# this is refused before any memory is allocated for it (a 30000x30000 PNG of under 1 MB
# would otherwise take gigabytes). Must equal posedy.data.coco.MAX_IMAGE_PIXELS.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(2**27))
