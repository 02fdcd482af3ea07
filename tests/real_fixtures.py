"""Miniature copies of the real datasets' archives, in their exact layouts and with their quirks.

- Flickr8k_Dataset.zip: `Flicker8k_Dataset/<id>.jpg` (sic) plus `__MACOSX/` resource forks;
- Flickr8k_text.zip: `Flickr8k.token.txt` (`<image>#<k>\\t<caption>`), the three split lists
  and the other text files of the real archive; as in the real files, `2258277193_586949ec62.jpg`
  has 4 caption lines, no image file and no split, its fifth line names
  `2258277193_586949ec62.jpg.1`, and some images with files and captions are in no split
  list (the real archive has 8,091 images, the lists 8,000);
- caption_datasets.zip: Karpathy's dataset_flickr8k.json, dataset_flickr30k.json and
  dataset_coco.json (COCO with `filepath`, `cocoid`, a `restval` split and an image with
  six captions);
- flickr30k-images.tar.gz: `flickr30k-images/<id>.jpg`;
- train2014.zip / val2014.zip: `train2014/COCO_train2014_<12 digits>.jpg`, likewise for val.

Images and captions are the demo generator's (shapes and truthful captions), so a pipeline
run on them learns something.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tie.datasets.demo import make_demo_example

QUIRK_IMAGE = "2258277193_586949ec62.jpg"  # 4 captions, no file, in no split
IMAGE_SIZE = 48


@dataclass
class FixtureImage:
    name: str
    split: str  # train / val / test / restval
    captions: list[str]
    jpeg: bytes
    folder: str = ""  # COCO's filepath
    extra: dict = field(default_factory=dict)


def make_images(names_and_splits, seed=0, n_captions=None) -> list[FixtureImage]:
    images = []
    for index, (name, split) in enumerate(names_and_splits):
        example = make_demo_example(seed, index, IMAGE_SIZE)
        buffer = io.BytesIO()
        example.image.save(buffer, format="JPEG", quality=90)
        captions = list(example.captions)
        if n_captions and n_captions.get(name):
            captions = (captions * 2)[: n_captions[name]]
        images.append(FixtureImage(name, split, captions, buffer.getvalue()))
    return images


def flickr_names(n: int, start: int = 0) -> list[str]:
    return [
        f"{1000268201 + 7919 * i}_{hashlib.md5(str(i).encode()).hexdigest()[:10]}.jpg"
        for i in range(start, start + n)
    ]


def splits_of(counts: dict[str, int]) -> list[str]:
    return [split for split, n in counts.items() for _ in range(n)]


def karpathy_json(images: list[FixtureImage], dataset: str) -> bytes:
    entries = []
    sentence_id = 0
    for image_id, image in enumerate(images):
        sentences = []
        for caption in image.captions:
            tokens = caption.lower().replace(".", "").split()
            sentences.append(
                {"tokens": tokens, "raw": caption, "imgid": image_id, "sentid": sentence_id}
            )
            sentence_id += 1
        entry = {
            "filename": image.name,
            "imgid": image_id,
            "split": image.split,
            "sentences": sentences,
            "sentids": [s["sentid"] for s in sentences],
            **image.extra,
        }
        if image.folder:
            entry["filepath"] = image.folder
        entries.append(entry)
    return json.dumps({"images": entries, "dataset": dataset}).encode()


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


@dataclass
class Flickr8kFixture:
    images: list[FixtureImage]  # listed in a split, in split order (Karpathy's file has these)
    unlisted: list[FixtureImage]  # with a file and captions, in no split list


def build_flickr8k(folder: Path, counts: dict[str, int], n_unlisted: int = 1) -> Flickr8kFixture:
    """Flickr8k_Dataset.zip and Flickr8k_text.zip in `folder`: `counts` images per split and
    `n_unlisted` images in no split."""
    splits = splits_of(counts | {"unlisted": n_unlisted})
    all_images = make_images(zip(flickr_names(len(splits)), splits, strict=True))
    images = [image for image in all_images if image.split != "unlisted"]
    members = {"Flicker8k_Dataset/": b""}
    for image in all_images:
        members[f"Flicker8k_Dataset/{image.name}"] = image.jpeg
        members[f"__MACOSX/Flicker8k_Dataset/._{image.name}"] = b"\x00\x05\x16\x07mac"
    write_zip(folder / "Flickr8k_Dataset.zip", members)

    lines = []
    for position, image in enumerate(all_images):
        lines += [f"{image.name}#{k}\t{caption}" for k, caption in enumerate(image.captions)]
        if position == len(all_images) // 2:  # the quirky image sits among the others
            lines += [f"{QUIRK_IMAGE}#{k}\tA dog runs on the grass ." for k in range(4)]
            lines.append(f"{QUIRK_IMAGE}.1#4\tA brown dog runs on green grass .")
    token_file = ("\n".join(lines) + "\n").encode()
    split_files = {
        "train": "Flickr_8k.trainImages.txt",
        "val": "Flickr_8k.devImages.txt",
        "test": "Flickr_8k.testImages.txt",
    }
    text_members = {
        "Flickr8k.token.txt": token_file,
        "Flickr8k.lemma.token.txt": token_file,
        "ExpertAnnotations.txt": b"",
        "CrowdFlowerAnnotations.txt": b"",
        "readme.txt": b"Flickr8k text files\n",
    }
    for split, file_name in split_files.items():
        names = [image.name for image in images if image.split == split]
        text_members[file_name] = ("\n".join(names) + "\n").encode()
    write_zip(folder / "Flickr8k_text.zip", text_members)
    return Flickr8kFixture(images, [image for image in all_images if image.split == "unlisted"])


def build_karpathy(folder: Path, datasets: dict[str, list[FixtureImage]]) -> Path:
    """caption_datasets.zip with one dataset_<name>.json per entry of `datasets`."""
    members = {
        f"dataset_{name}.json": karpathy_json(images, name) for name, images in datasets.items()
    }
    return write_zip(folder / "caption_datasets.zip", members)


def build_flickr30k(folder: Path, counts: dict[str, int]) -> list[FixtureImage]:
    names = [f"{36979 + 97 * i}.jpg" for i in range(sum(counts.values()))]
    images = make_images(zip(names, splits_of(counts), strict=True), seed=30)
    with tarfile.open(folder / "flickr30k-images.tar.gz", "w:gz") as archive:
        for image in images:
            info = tarfile.TarInfo(f"flickr30k-images/{image.name}")
            info.size = len(image.jpeg)
            archive.addfile(info, io.BytesIO(image.jpeg))
    return images


def build_coco(folder: Path, counts: dict[str, int]) -> list[FixtureImage]:
    """train2014.zip and val2014.zip; Karpathy's val/test/restval images come from val2014."""
    splits = splits_of(counts)
    images = []
    for index, split in enumerate(splits):
        folder_name = "train2014" if split == "train" else "val2014"
        cocoid = 9 + 13 * index
        images.append((f"COCO_{folder_name}_{cocoid:012d}.jpg", split, folder_name, cocoid))
    six = {images[0][0]: 6}
    made = make_images([(name, split) for name, split, _, _ in images], seed=14, n_captions=six)
    for image, (_, _, folder_name, cocoid) in zip(made, images, strict=True):
        image.folder = folder_name
        image.extra = {"cocoid": cocoid}
    for folder_name in ("train2014", "val2014"):
        members = {f"{folder_name}/{i.name}": i.jpeg for i in made if i.folder == folder_name}
        write_zip(folder / f"{folder_name}.zip", members)
    return made
