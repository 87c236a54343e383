"""Top-down COCO data: records, geometry, augmentation, heatmap codec, datasets."""
