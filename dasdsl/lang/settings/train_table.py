"""The train block's table, ``TRAIN``: one ``SearchSetting`` record per key (``dasdsl train``'s
flags, ``dasdsl.train``'s keywords, docs/search.md's train table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dasdsl.lang.settings.records import TrainConfig
from dasdsl.lang.settings.table import Flag, SearchSetting, SettingsTable
from dasdsl.lang.settings.values import (
    MAX_BATCH,
    MAX_EPOCHS,
    data_flag,
    data_setting,
    fraction_setting,
    grad_clip_setting,
    integer_setting,
    name_in,
    number_setting,
    seed_setting,
    single,
)

AUGMENTS = ("auto", "shift", "crop_flip", "none")  # image augmentation of `dasdsl train`


def _augment(v: Any, c: Mapping[str, Any]) -> dict[str, Any]:
    return {"augment": name_in(v, "augment", AUGMENTS, bare=True)}


_EPOCHS_MAX = (MAX_EPOCHS, "1000000")
_BATCH_MAX = (MAX_BATCH, "1048576 (2**20)")

# The settings of a ``train`` block (``dasdsl train``'s flags, ``dasdsl.train``'s keywords). ``data``,
# ``epochs``, ``batch``, ``seed`` and ``grad_clip`` read as in the search block.
TRAIN_SETTINGS: tuple[SearchSetting, ...] = (
    SearchSetting(
        "data",
        single(data_setting),
        ("data",),
        None,
        "as in the search block; none: the search block's `data`, else `digits` (`mnist1d` for sequences)",
        Flag("digits, mnist1d, synthetic, cifar10:PATH, npz:PATH", das=data_flag),
    ),
    SearchSetting(
        "epochs",
        integer_setting("epochs", at_most=_EPOCHS_MAX),
        ("epochs",),
        "20",
        "training epochs",
        Flag("epochs", int),
    ),
    SearchSetting(
        "batch", integer_setting("batch", at_most=_BATCH_MAX), ("batch",), "64", "batch size", Flag("batch size", int)
    ),
    SearchSetting(
        "lr",
        number_setting("lr"),
        ("lr",),
        "0.05",
        "SGD's learning rate, cosine schedule to 0 over the epochs",
        Flag("learning rate", float),
    ),
    SearchSetting("seed", single(seed_setting), ("seed",), "0", "random seed", Flag("random seed", int)),
    SearchSetting(
        "momentum",
        fraction_setting("momentum"),
        ("momentum",),
        "0.9",
        "SGD's momentum, in [0, 1) (0: plain SGD)",
        Flag("SGD momentum", float),
    ),
    SearchSetting(
        "weight_decay",
        number_setting("weight_decay", positive=False),
        ("weight_decay",),
        "3e-4",
        "SGD's weight decay",
        Flag("SGD weight decay", float),
    ),
    SearchSetting(
        "grad_clip",
        single(grad_clip_setting),
        ("grad_clip",),
        "5",
        "gradient-norm clipping",
        Flag("gradient-norm clipping", float),
    ),
    SearchSetting(
        "label_smoothing",
        fraction_setting("label_smoothing"),
        ("label_smoothing",),
        "0",
        "label smoothing, in [0, 1) (DARTS on ImageNet: 0.1)",
        Flag("label smoothing", float),
    ),
    SearchSetting(
        "augment",
        single(_augment),
        ("augment",),
        "auto",
        "images only: `auto`/`shift` random shifts of up to 1/8 of the width; `crop_flip` random crop with that"
        " padding and a horizontal flip (the CIFAR recipe; not for digits, which a mirror changes); `none`",
        Flag("image augmentation", choices=AUGMENTS),
    ),
    SearchSetting(
        "cutout",
        integer_setting("cutout", positive=False, at_most=(2**16, "65536")),
        ("cutout",),
        "0",
        "a square of that many pixels, centred at a random pixel and clipped at the border, set to 0 (DARTS: 16)",
        Flag("cutout square (pixels)", int, metavar="PIXELS"),
    ),
    SearchSetting(
        "auxiliary",
        number_setting("auxiliary", positive=False),
        ("auxiliary",),
        "0",
        "the loss weight of DARTS' auxiliary head (0.4): after the cell at 2/3 of the depth (index 2n // 3 of n"
        " cells), ReLU, average pooling to 2x2 (DARTS' 5x5 stride 3 on an 8x8 map, adaptive on other sizes), 1x1"
        " conv to 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear; training only. Its parameters are reported"
        " apart (DARTS-V2 at C = 36, 20 cells: 3,349,342 plus 476,426 in the head) and saved under `auxiliary.`"
        " in `model.pt`; `dasdsl export` leaves them out",
        Flag("auxiliary head's loss weight (DARTS: 0.4)", float, metavar="WEIGHT"),
    ),
    SearchSetting(
        "drop_path",
        fraction_setting("drop_path"),
        ("drop_path",),
        "0",
        "DARTS' drop-path: each sample's output of every non-identity edge zeroed with probability p (the rest"
        " scaled by 1 / (1 - p)), p ramped linearly from 0 (p = 0.2 * epoch / epochs in DARTS)",
        Flag("drop-path probability (DARTS: 0.2)", float, metavar="P"),
    ),
)


TRAIN = SettingsTable("train", TrainConfig, TRAIN_SETTINGS)
TRAIN_KEYS: tuple[str, ...] = TRAIN.keys
