"""atom-jax: the ATOM tracker (Danelljan et al., CVPR 2019) as pure JAX functions.

Conventions used everywhere in this package (see ARCHITECTURE.md):
  * images are RGB, HWC, uint8 (or float in 0..255); activations NHWC; conv kernels HWIO;
  * boxes are in (x, y) order with the format in the name: ``box_xywh``, ``boxes_xyxy``,
    ``center_xy``, ``size_wh``; ``(h, w)`` appears only as an array shape.
"""

__version__ = "0.1.0"
