"""Per-sequence challenge attributes of the benchmarks that define them (OTB-100, UAV123, LaSOT).

Where they come from:
  * OTB-100: the benchmark's table (Wu, Lim, Yang, TPAMI 2015), kept below as data: for each of its 11
    attributes, the sequences that have it (our sequence names, e.g. ``Jogging_1``, ``Human4_2``).
  * UAV123 (and its 10 fps version): the dataset's own files ``anno/UAV123/att/<name>.txt``, one line of 12
    comma-separated 0/1 flags in the order of :data:`UAV123_ATTRIBUTES` (the column order of the dataset's
    annotation document, not alphabetical).
  * LaSOT: the evaluation toolkit's files ``annos/att/<name>.txt`` (14 flags, :data:`LASOT_ATTRIBUTES`); the
    dataset download itself has none, so they are looked for in ``--attributes DIR``, ``<root>/annos/att`` and
    ``<root>/att``.
  * ``generic`` folders: sequences named like an OTB-100 sequence get that sequence's OTB attributes.
An explicit folder of ``<sequence>.txt`` flag files (``--attributes DIR``) is read with the dataset's order.

:func:`sequence_attributes` returns ``(attributes, per_sequence)``: the ``(abbreviation, name)`` pairs of the
benchmark and, for each sequence that has attribute information, the set of its abbreviations.
"""

from __future__ import annotations

import pathlib

from atom_jax.errors import InputError
from atom_jax.data.files import load_table

OTB_ATTRIBUTES = (
    ("IV", "Illumination variation"), ("SV", "Scale variation"), ("OCC", "Occlusion"), ("DEF", "Deformation"),
    ("MB", "Motion blur"), ("FM", "Fast motion"), ("IPR", "In-plane rotation"), ("OPR", "Out-of-plane rotation"),
    ("OV", "Out of view"), ("BC", "Background clutter"), ("LR", "Low resolution"),
)

UAV123_ATTRIBUTES = (
    ("SV", "Scale variation"), ("ARC", "Aspect ratio change"), ("LR", "Low resolution"), ("FM", "Fast motion"),
    ("FOC", "Full occlusion"), ("POC", "Partial occlusion"), ("OV", "Out of view"), ("BC", "Background clutter"),
    ("IV", "Illumination variation"), ("VC", "Viewpoint change"), ("CM", "Camera motion"),
    ("SOB", "Similar object"),
)

LASOT_ATTRIBUTES = (
    ("IV", "Illumination variation"), ("POC", "Partial occlusion"), ("DEF", "Deformation"), ("MB", "Motion blur"),
    ("CM", "Camera motion"), ("ROT", "Rotation"), ("BC", "Background clutter"), ("VC", "Viewpoint change"),
    ("SV", "Scale variation"), ("FOC", "Full occlusion"), ("FM", "Fast motion"), ("OV", "Out of view"),
    ("LR", "Low resolution"), ("ARC", "Aspect ratio change"),
)

# OTB-100: attribute -> the sequences annotated with it.
_OTB_TABLE = {
    "IV": """Basketball Box Car1 Car2 Car24 Car4 CarDark Coke Crowds David Doll FaceOcc2 Fish Human2 Human4_2 Human7
             Human8 Human9 Ironman KiteSurf Lemming Liquor Man Matrix Mhyang MotorRolling Shaking Singer1 Singer2
             Skating1 Skiing Soccer Sylvester Tiger1 Tiger2 Trans Trellis Woman""",
    "SV": """Biker BlurBody BlurCar2 BlurOwl Board Box Boy Car1 Car24 Car4 CarScale ClifBar Couple Crossing Dancer
             David Diving Dog Dog1 Doll DragonBaby Dudek FleetFace Freeman1 Freeman3 Freeman4 Girl Girl2 Gym Human2
             Human3 Human4_2 Human5 Human6 Human7 Human8 Human9 Ironman Jump Lemming Liquor Matrix MotorRolling
             Panda RedTeam Rubik Shaking Singer1 Skater Skater2 Skating1 Skating2_1 Skating2_2 Skiing Soccer Surfer
             Toy Trans Trellis Twinnings Vase Walking Walking2 Woman""",
    "OCC": """Basketball Biker Bird2 Bolt Box CarScale ClifBar Coke Coupon David David3 Doll DragonBaby Dudek
              FaceOcc1 FaceOcc2 Football Freeman4 Girl Girl2 Human3 Human4_2 Human5 Human6 Human7 Ironman Jogging_1
              Jogging_2 Jump KiteSurf Lemming Liquor Matrix Panda RedTeam Rubik Singer1 Skating1 Skating2_1
              Skating2_2 Soccer Subway Suv Tiger1 Tiger2 Trans Walking Walking2 Woman""",
    "DEF": """Basketball Bird1 Bird2 BlurBody Bolt Bolt2 Couple Crossing Crowds Dancer Dancer2 David David3 Diving
              Dog Dudek FleetFace Girl2 Gym Human3 Human4_2 Human5 Human6 Human7 Human8 Human9 Jogging_1 Jogging_2
              Jump Mhyang Panda Singer2 Skater Skater2 Skating1 Skating2_1 Skating2_2 Skiing Subway Tiger1 Tiger2
              Trans Walking Woman""",
    "MB": """Biker BlurBody BlurCar1 BlurCar2 BlurCar3 BlurCar4 BlurFace BlurOwl Board Box Boy ClifBar David Deer
             DragonBaby FleetFace Girl2 Human2 Human7 Human9 Ironman Jump Jumping Liquor MotorRolling Soccer Tiger1
             Tiger2 Woman""",
    "FM": """Biker Bird1 Bird2 BlurBody BlurCar1 BlurCar2 BlurCar3 BlurCar4 BlurFace BlurOwl Board Boy CarScale
             ClifBar Coke Couple Deer DragonBaby Dudek FleetFace Human6 Human7 Human9 Ironman Jumping Lemming Liquor
             Matrix MotorRolling Skater2 Skating2_1 Skating2_2 Soccer Surfer Tiger1 Tiger2 Toy Vase Woman""",
    "IPR": """Bird2 BlurBody BlurFace BlurOwl Bolt Box Boy CarScale ClifBar Coke Dancer David David2 Deer Diving
              Dog1 Doll DragonBaby Dudek FaceOcc2 FleetFace Football Football1 Freeman1 Freeman3 Freeman4 Girl Gym
              Ironman Jump KiteSurf Matrix MotorRolling MountainBike Panda RedTeam Rubik Shaking Singer2 Skater
              Skater2 Skiing Soccer Surfer Suv Sylvester Tiger1 Tiger2 Toy Trellis Vase""",
    "OPR": """Basketball Biker Bird2 Board Bolt Box Boy CarScale Coke Couple Dancer David David2 David3 Dog Dog1
              Doll DragonBaby Dudek FaceOcc2 FleetFace Football Football1 Freeman1 Freeman3 Freeman4 Girl Girl2 Gym
              Human2 Human3 Human6 Ironman Jogging_1 Jogging_2 Jump KiteSurf Lemming Liquor Matrix Mhyang
              MountainBike Panda RedTeam Rubik Shaking Singer1 Singer2 Skater Skater2 Skating1 Skating2_1 Skating2_2
              Skiing Soccer Surfer Sylvester Tiger1 Tiger2 Toy Trellis Twinnings Woman""",
    "OV": "Biker Bird1 Board Box ClifBar DragonBaby Dudek Human6 Ironman Lemming Liquor Panda Suv Tiger2",
    "BC": """Basketball Board Bolt2 Box Car1 Car2 Car24 CarDark ClifBar Couple Coupon Crossing Crowds David3 Deer
             Dudek Football Football1 Human3 Ironman Liquor Matrix Mhyang MotorRolling MountainBike Shaking Singer2
             Skating1 Soccer Subway Trellis""",
    "LR": "Biker Car1 Freeman3 Freeman4 Panda RedTeam Skiing Surfer Walking",
}


def otb_attributes() -> dict[str, set[str]]:
    """OTB-100 sequence name -> its attribute abbreviations (every sequence of the benchmark)."""
    out: dict[str, set[str]] = {}
    for abbr, names in _OTB_TABLE.items():
        for name in names.split():
            out.setdefault(name, set()).add(abbr)
    return out


def read_flag_file(path, attributes) -> set[str]:
    """One line of 0/1 flags (comma, tab or space separated) in the order of ``attributes``."""
    flags = load_table(path, ncols=len(attributes))
    if len(flags) != 1:
        raise InputError(f"{path}: expected one line of {len(attributes)} attribute flags, got {len(flags)} lines")
    return {abbr for (abbr, _), flag in zip(attributes, flags[0]) if flag > 0}


def _from_folders(names, folders, attributes, strip_prefix: str = "") -> dict[str, set[str]]:
    out = {}
    for name in names:
        stem = name[len(strip_prefix):] if strip_prefix and name.startswith(strip_prefix) else name
        path = next((pathlib.Path(f) / f"{stem}.txt" for f in folders if (pathlib.Path(f) / f"{stem}.txt").is_file()),
                    None)
        if path is not None:
            out[name] = read_flag_file(path, attributes)
    return out


def sequence_attributes(dataset: str, root, names, attributes_dir=None):
    """``(attributes, {sequence: set of abbreviations})`` for the sequences ``names`` of ``dataset`` read from
    ``root``; ``(None, {})`` when the dataset defines no attributes or none of the sequences has any."""
    root = pathlib.Path(root)
    extra = [attributes_dir] if attributes_dir else []
    if dataset in ("otb", "generic"):
        table = otb_attributes()
        if attributes_dir:
            found = _from_folders(names, extra, OTB_ATTRIBUTES)
        else:
            found = {n: table[n] for n in names if n in table}
        return (OTB_ATTRIBUTES, found) if found else (None, {})
    if dataset in ("uav", "uav10fps"):
        folders = extra + [root / "anno" / "UAV123_10fps" / "att", root / "anno" / "UAV123" / "att"]
        found = _from_folders(names, folders, UAV123_ATTRIBUTES, strip_prefix="uav_")
        return (UAV123_ATTRIBUTES, found) if found else (None, {})
    if dataset == "lasot":
        folders = extra + [root / "annos" / "att", root / "att"]
        found = _from_folders(names, folders, LASOT_ATTRIBUTES)
        return (LASOT_ATTRIBUTES, found) if found else (None, {})
    return None, {}
