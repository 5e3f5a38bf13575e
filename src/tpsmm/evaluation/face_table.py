"""The text table of a ``tpsmm benchmark-faces`` report (:func:`format_table`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tpsmm.evaluation.face_signals import SIGNALS

__all__ = ["format_table"]

_COLUMNS = " ".join(f"{name:>6}" for name in (*SIGNALS, "pose"))


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _r_columns(entry: Mapping[str, Any], every: bool = False) -> str:
    """The five r and the pose mean: the measurable means, or of every pair."""
    r, pose = (entry["r_all"], entry["r_pose_all"]) if every else (entry["r"], entry["r_pose"])
    return " ".join(f"{_number(value):>6}" for value in [*(r[n] for n in SIGNALS), pose])


def _video_r_columns(entry: Mapping[str, Any], measurable: Collection[str]) -> str:
    """One video's r over every pair, in parentheses where the signal is not measurable."""
    cells = []
    for name in SIGNALS:
        text = _number(entry["r_all"][name])
        cells.append(f"{text:>6}" if name in measurable else f"{'(' + text + ')':>6}")
    return " ".join([*cells, f"{_number(entry['r_pose_all']):>6}"])


def _reconstruction(report: Mapping[str, Any], measurable: Mapping[str, set[str]]) -> list[str]:
    settings = report["settings"]
    lines = [
        f"reconstruction (source = first frame, standard mode; L1 at {settings['model_size']} "
        f"px, AKD in pixels at {settings['analysis_size']}; r: the frames' signals against "
        "the reconstructions')",
        f"{'video':<16} {'frames':>6} {'L1':>7} {'still':>7} {'AKD':>6} {'still':>6} "
        f"{'AED':>6} {'still':>6} {'found':>5}  {_COLUMNS}",
    ]
    reconstruction = report["reconstruction"]

    def row(name: str, entry: Mapping[str, Any], r: str) -> str:
        return (
            f"{name:<16} {entry['frames']:>6} {_number(entry['l1'], 4):>7} "
            f"{_number(entry['l1_no_motion'], 4):>7} {_number(entry['akd']):>6} "
            f"{_number(entry['akd_no_motion']):>6} {_number(entry['aed'], 3):>6} "
            f"{_number(entry['aed_no_motion'], 3):>6} {_number(entry['face_found']):>5}  {r}"
        )

    for name, entry in reconstruction["videos"].items():
        lines.append(row(name, entry, _video_r_columns(entry, measurable.get(name, set()))))
    overall = reconstruction["overall"]
    lines.append(row("overall", overall, _r_columns(overall)))
    ratios = ", ".join(
        f"{name.upper()} {_number(overall[f'{name}_ratio'], 3)}x" for name in ("l1", "akd", "aed")
    )
    lines.append(f"ratios to no motion: {ratios}")
    return lines


def _cross_identity(report: Mapping[str, Any], measurable: Mapping[str, set[str]]) -> list[str]:
    cross = report["cross_identity"]
    summary = cross["overall"]
    lines = [
        f"cross-identity (relative mode): {len(cross['sources'])} sources, "
        f"{len(cross['videos'])} videos, {summary['pairs']} pairs, {summary['frames']} frames; "
        "id dist: embedding distance to the source (0.6 = another person); found: results "
        "with a face; fold: share of face cells with Jacobian determinant <= 0",
        f"{'':<23} {_COLUMNS} {'id dist':>7} {'found':>5} {'fold':>6} {'worst':>6}",
    ]

    def row(label: str, entry: Mapping[str, Any], r: str) -> str:
        folding = entry["folding"]
        return (
            f"{label:<23} {r} {_number(entry['identity_distance'], 3):>7} "
            f"{_number(entry['face_found']):>5} {_number(folding['mean'], 4):>6} "
            f"{_number(folding['worst'], 3):>6}"
        )

    lines.append(row("overall", summary, _r_columns(summary)))
    lines.append(row("overall, every pair", summary, _r_columns(summary, every=True)))
    for name, entry in cross["videos"].items():
        r = _video_r_columns(entry, measurable.get(name, set()))
        lines.append(row(f"video {name}", entry, r))
    for name, entry in cross["sources"].items():
        lines.append(row(f"source {name}", entry, _r_columns(entry)))
    too_few = [pair for pair in cross["pairs"] if None in pair["r"].values()]
    if too_few:
        lines.append(
            f"{len(too_few)} pairs have fewer than {report['settings']['min_frames']} frames "
            "with a face on both sides for some signal (left out of its means)"
        )
    return lines


def format_table(report: Mapping[str, Any]) -> str:
    """The report as text: reconstruction per video, cross-identity overall, per video
    and per source, then the ceiling. Means count measurable signals only (see
    :mod:`tpsmm.evaluation.face_summary`); a video's r in parentheses is not measurable."""
    settings = report["settings"]
    ceiling = report["ceiling"]
    measurable: dict[str, set[str]] = {}
    for name, videos in ceiling["measurable"].items():
        for video in videos:
            measurable.setdefault(video, set()).add(name)
    lines = [*_reconstruction(report, measurable), "", *_cross_identity(report, measurable)]
    lines += [
        "",
        f"ceiling: the driving frames against themselves at {settings['model_size']} px "
        f"(brought back to {settings['analysis_size']}); a signal counts in the means where "
        f"its video's ceiling r >= {settings['min_ceiling']:g}",
        f"{'':<23} {_COLUMNS}",
        f"{'overall':<23} {_r_columns(ceiling['overall'])}",
    ]
    lines += [
        f"{'video ' + name:<23} {_r_columns(entry)}" for name, entry in ceiling["videos"].items()
    ]
    return "\n".join(lines)
