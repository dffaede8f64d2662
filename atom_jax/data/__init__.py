"""Datasets for training and evaluation: one sequence type, one reader per layout, host-side I/O.

``files`` (text tables, labels, RGB decoding, frame listing, read-ahead), ``sequence`` (:class:`Sequence`,
:class:`Dataset`), readers ``folders`` (generic OTB/VOT-style folders, VOT, videos), ``benchmarks`` (OTB, UAV123,
NFS with ``tables``), ``large`` (LaSOT, GOT-10k, TrackingNet), ``coco`` (json and tfds), ``synthetic`` (the
generator), and ``registry`` (``open_dataset(spec)`` for configs, ``load_dataset(name, root)`` for benchmarks).
Nothing here imports ``train`` or ``track``.
"""
