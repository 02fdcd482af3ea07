import json
from pathlib import Path

import pytest
from PIL import Image

from tie.corpus.flickr8k import MAX_REPORT_EXAMPLES, format_report, read_flickr8k_layout
from tie.raw.layout import Flickr8kLayout

# Image names in the style of the real Flickr8k.
FIVE = "1000268201_693b08cb0e.jpg"  # train, 5 captions, CRLF and trailing blanks
FOUR = "1001773457_577c3a7d70.jpg"  # train, 4 captions (its #4 line is empty)
SHUFFLED = "1002674143_1b742ab4b8.jpg"  # val, k out of order, #1 repeated
NO_CAPTIONS = "1007129816_e794419615.jpg"  # val, a file but no caption lines
NO_FILE = "1003163366_44323f5815.jpg"  # test, caption lines but no file
REAL_QUIRK = "2258277193_586949ec62.jpg"  # test; the token file also has a `.jpg.1` line
UNSPLIT = "1007320043_627395c3d8.jpg"  # a file and captions, in no split

TOKEN_LINES = [
    f"{FIVE}#0\tA child in a pink dress is climbing up a set of stairs .",
    f"{FIVE}#1\tA girl going into a wooden building .   ",
    f"{FIVE}#2\tA little girl climbing into a wooden playhouse .\r",
    f"{FIVE}#1 A girl with no tab after the key .",  # malformed: no tab
    f"{FIVE}#3\tA little girl climbing the stairs to her playhouse .",
    f"{FIVE}#4\tA little girl in a pink dress going into a wooden cabin .",
    "",
    f"{FOUR}#0\tA black dog and a spotted dog are fighting",
    f"{FOUR}#1\tA black dog and a tri-colored dog playing with each other on the road .",
    f"{FOUR}\tA caption without its number .",  # malformed: no #k
    f"{FOUR}#2\tA black dog and a white dog with brown spots are staring at each other .",
    f"{FOUR}#x\tA caption with a number that is not one .",  # malformed: k not an integer
    f"{FOUR}#3\tTwo dogs of different breeds looking at each other on the road .",
    f"{FOUR}#4\t   ",  # malformed: empty caption
    "   ",
    f"{SHUFFLED}#3\tA man lays on the bench to which a white dog is also tied .",
    f"{SHUFFLED}#0\tA man lays on a bench while his dog sits by him .",
    f"{SHUFFLED}#4\tA shirtless man lies on a park bench with his dog .",
    f"{SHUFFLED}#1\tA man lays on the bench to which a white dog is also tied .",
    f"{SHUFFLED}#2\tA man sleeping on a bench outside with a white and black dog nearby .",
    f"{SHUFFLED}#1\tA repeated #1 that must not replace the first one .",  # duplicate
    f"{NO_FILE}#0\tA caption for an image whose file is missing .",
    f"{NO_FILE}#1\tAnother caption for the missing image .",
    f"{REAL_QUIRK}.1#0\tA boy in a red jersey is getting ready to catch a ball .",  # no such image
    f"{REAL_QUIRK}#0\tA boy in a red jersey is about to catch a football .",
    f"{REAL_QUIRK}#1\tA boy is getting ready to catch a ball .",
    f"{REAL_QUIRK}#2\tA football player in a red jersey .",
    f"{REAL_QUIRK}#3\tA young boy in a red shirt prepares to catch a football .",
    f"{REAL_QUIRK}#4\tA young football player reaches for the ball .",
    f"{UNSPLIT}#0\tA dog runs on the grass .",
]
N_NONBLANK_LINES = len(TOKEN_LINES) - 2


def _write_text(path: Path, lines: list[str], line_end: str = "\r\n") -> Path:
    path.write_bytes("".join(line + line_end for line in lines).encode("utf-8"))
    return path


def _write_images(image_dir: Path, names: list[str]) -> None:
    image_dir.mkdir(parents=True)
    for name in names:
        Image.new("RGB", (4, 4), (120, 30, 200)).save(image_dir / name)


@pytest.fixture
def flickr8k(tmp_path) -> Flickr8kLayout:
    """Flickr8k's file names and quirks, with a handful of images."""
    image_dir = tmp_path / "Flickr8k_Dataset" / "Flicker8k_Dataset"
    _write_images(image_dir, [FIVE, FOUR, SHUFFLED, NO_CAPTIONS, REAL_QUIRK, UNSPLIT])
    text_dir = tmp_path / "Flickr8k_text"
    text_dir.mkdir()
    return Flickr8kLayout(
        image_dir=image_dir,
        token_file=_write_text(text_dir / "Flickr8k.token.txt", TOKEN_LINES),
        split_files={
            "train": _write_text(text_dir / "Flickr_8k.trainImages.txt", [FIVE, "", f"{FOUR}  "]),
            "val": _write_text(
                text_dir / "Flickr_8k.devImages.txt", [SHUFFLED, NO_CAPTIONS, SHUFFLED], "\n"
            ),
            "test": _write_text(text_dir / "Flickr_8k.testImages.txt", [NO_FILE, REAL_QUIRK]),
        },
    )


def test_captions_stay_on_their_image_in_k_order(flickr8k):
    corpus = read_flickr8k_layout(flickr8k, "flickr8k")

    assert corpus.dataset == "flickr8k"
    assert corpus.images == [FIVE, FOUR, SHUFFLED, REAL_QUIRK]
    assert corpus.splits == ["train", "train", "val", "test"]
    assert corpus.captions == [
        [
            "A child in a pink dress is climbing up a set of stairs .",
            "A girl going into a wooden building .",
            "A little girl climbing into a wooden playhouse .",
            "A little girl climbing the stairs to her playhouse .",
            "A little girl in a pink dress going into a wooden cabin .",
        ],
        [
            "A black dog and a spotted dog are fighting",
            "A black dog and a tri-colored dog playing with each other on the road .",
            "A black dog and a white dog with brown spots are staring at each other .",
            "Two dogs of different breeds looking at each other on the road .",
        ],
        [
            "A man lays on a bench while his dog sits by him .",
            "A man lays on the bench to which a white dog is also tied .",
            "A man sleeping on a bench outside with a white and black dog nearby .",
            "A man lays on the bench to which a white dog is also tied .",
            "A shirtless man lies on a park bench with his dog .",
        ],
        [
            "A boy in a red jersey is about to catch a football .",
            "A boy is getting ready to catch a ball .",
            "A football player in a red jersey .",
            "A young boy in a red shirt prepares to catch a football .",
            "A young football player reaches for the ball .",
        ],
    ]


def test_report_counts_and_names_everything_dropped_or_short(flickr8k):
    report = read_flickr8k_layout(flickr8k, "flickr8k").report

    assert json.loads(json.dumps(report)) == report
    assert report["caption_lines"] == N_NONBLANK_LINES
    assert report["images_kept"] == 4
    assert report["captions_kept"] == 19
    assert report["dropped_lines_malformed"]["count"] == 4
    assert [example.split(":")[0] for example in report["dropped_lines_malformed"]["examples"]] == [
        "line 4",
        "line 10",
        "line 12",
        "line 14",
    ]
    assert report["dropped_lines_missing_image"] == {
        "count": 3,
        "examples": [NO_FILE, f"{REAL_QUIRK}.1"],
    }
    assert report["dropped_lines_duplicate"] == {"count": 1, "examples": [f"{SHUFFLED}#1"]}
    assert report["dropped_split_repeats"] == {"count": 1, "examples": [SHUFFLED]}
    assert report["dropped_images_missing_file"] == {"count": 1, "examples": [NO_FILE]}
    assert report["dropped_images_no_captions"] == {"count": 1, "examples": [NO_CAPTIONS]}
    assert report["images_few_captions"] == {"count": 1, "examples": [FOUR]}
    assert report["images_not_in_splits"] == {"count": 1, "examples": [UNSPLIT]}


def test_format_report_summarises_the_problems(flickr8k):
    text = format_report(read_flickr8k_layout(flickr8k, "flickr8k").report)

    assert text.splitlines()[0] == (
        f"read {N_NONBLANK_LINES} caption lines; kept 19 captions of 4 images"
    )
    assert (
        f"3 caption lines dropped because their image file is missing or unreadable: {NO_FILE}"
        in (text)
    )
    assert f"1 split image kept with fewer than 5 captions: {FOUR}" in text
    assert len(text.splitlines()) == 9


def test_report_examples_are_truncated(tmp_path):
    image_dir = tmp_path / "images"
    _write_images(image_dir, ["kept.jpg"])
    missing = [f"missing_{i:02d}.jpg" for i in range(MAX_REPORT_EXAMPLES + 5)]
    lines = [f"kept.jpg#{k}\tcaption {k}" for k in range(5)] + [f"{m}#0\tx" for m in missing]
    layout = Flickr8kLayout(
        image_dir=image_dir,
        token_file=_write_text(tmp_path / "token.txt", lines),
        split_files={
            "train": _write_text(tmp_path / "train.txt", ["kept.jpg"]),
            "val": _write_text(tmp_path / "val.txt", []),
            "test": _write_text(tmp_path / "test.txt", []),
        },
    )

    report = read_flickr8k_layout(layout, "tiny").report

    assert report["dropped_lines_missing_image"] == {
        "count": MAX_REPORT_EXAMPLES + 5,
        "examples": missing[:MAX_REPORT_EXAMPLES],
    }
    assert "25 caption lines dropped" in format_report(report)


def test_image_in_two_splits_is_an_error(flickr8k):
    _write_text(flickr8k.split_files["test"], [REAL_QUIRK, FIVE])

    with pytest.raises(ValueError, match="listed in two splits") as error:
        read_flickr8k_layout(flickr8k, "flickr8k")

    message = str(error.value)
    assert FIVE in message
    assert "Flickr_8k.trainImages.txt" in message
    assert "Flickr_8k.testImages.txt" in message


@pytest.mark.parametrize("missing", ["token", "val"])
def test_missing_text_file_is_named(flickr8k, missing):
    path = flickr8k.token_file if missing == "token" else flickr8k.split_files[missing]
    path.unlink()

    with pytest.raises(FileNotFoundError, match="fetch or generate the raw data") as error:
        read_flickr8k_layout(flickr8k, "flickr8k")

    assert str(path) in str(error.value)


def test_missing_image_folder_is_named(tmp_path, flickr8k):
    layout = Flickr8kLayout(tmp_path / "nowhere", flickr8k.token_file, flickr8k.split_files)

    with pytest.raises(FileNotFoundError, match="image folder .*nowhere"):
        read_flickr8k_layout(layout, "flickr8k")


def test_layout_needs_the_three_splits(flickr8k):
    with pytest.raises(ValueError, match="expected exactly"):
        Flickr8kLayout(flickr8k.image_dir, flickr8k.token_file, {"train": flickr8k.token_file})
