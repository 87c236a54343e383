"""Top-down COCO data: records, geometry, crops, augmentation, heatmap codec, datasets."""

from posedy.data.coco import DataError
from posedy.data.dataset import TopDownDataset, build_dataset, loader_workers, worker_init

__all__ = ["DataError", "TopDownDataset", "build_dataset", "loader_workers", "worker_init"]
