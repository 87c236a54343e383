"""Write the generated section of docs/benchmarks.md from ``tools/benchmark.py --json`` output.

    python tools/benchmark.py inference --json > inference.json
    python tools/benchmark.py train-step --json > train_step.json
    python tools/benchmark.py data --hrnet-root HRNET --json > data.json
    python tools/benchmark.py postprocess --hrnet-root HRNET --json > post.json
    python tools/make_benchmark_doc.py inference.json train_step.json data.json post.json \
        --notes tools/benchmark_notes.md [--doc docs/benchmarks.md]

Only the text between the BEGIN/END markers below is replaced, so other sections of the file
(data, post-processing) written by other tools stay as they are.
"""

import argparse
import json
import sys
from pathlib import Path

from posedy.errors import tool_main

BEGIN = "<!-- BEGIN generated: inference and train-step (tools/make_benchmark_doc.py) -->"
END = "<!-- END generated: inference and train-step -->"


def _machine_line(result: dict) -> str:
    m = result.get("machine", {})
    return (f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores; torch {m.get('torch', '?')}, "
            f"Python {m.get('python', '?')}; measured {m.get('date', '?')}.")


def inference_section(result: dict) -> str:
    lines = ["### Inference (batch 1)", "", _machine_line(result), "",
             f"{result['model']}; input {result['input_size_wh'][0]}x{result['input_size_wh'][1]} (w x h), "
             f"{result['threads']} thread(s), median of {result['repeats']} runs per path, static and dynamic "
             f"interleaved in one process.", ""]
    for width, entry in result["results"].items():
        table = entry["median_ms"]
        paths = list(dict.fromkeys(list(table["static"]) + list(table["dynamic"])))
        lines += [f"**MobileNetV2 {width}**", "",
                  "| path | static (ms) | dynamic (ms) | dynamic / static | per round: median (quartiles) |",
                  "|---|---:|---:|---:|---:|"]
        for path in paths:
            s = table["static"].get(path)
            d = table["dynamic"].get(path)
            r = entry["ratio_like_for_like"].get(path)
            q = entry.get("ratio_per_round", {}).get(path)
            rounds = "" if not q else f"{q['median']:.2f} ({q['q25']:.2f}-{q['q75']:.2f})"
            lines.append(f"| {path} | {'' if s is None else f'{s:.1f}'} | {'' if d is None else f'{d:.1f}'} | "
                         f"{'' if r is None else f'{r:.2f}'} | {rounds} |")
        best = entry.get("best")
        if best:
            lines += ["", f"Best against best: dynamic `{best['dynamic']}` "
                          f"{table['dynamic'][best['dynamic']]:.1f} ms vs static `{best['static']}` "
                          f"{table['static'][best['static']]:.1f} ms: ratio **{best['ratio']:.2f}**."]
        floor = entry.get("aggregation_floor")
        if floor:
            lines += ["", f"Lower bound from aggregation alone: the K kernels of the dynamic layers are "
                          f"{floor['kernel_mb']:.1f} MB (fp32, BatchNorm folded) and are read once per image; at "
                          f"the {floor['read_gbs']:.1f} GB/s single-thread read bandwidth measured in the same run "
                          f"that takes {floor['floor_ms']:.1f} ms, so no fp32 path can beat "
                          f"{floor['floor_ratio']:.2f} against the best static time."]
        if entry.get("errors"):
            lines += [""] + [f"- `{p}` not measured: {e}" for p, e in entry["errors"].items()]
        lines.append("")
    return "\n".join(lines)


def _cpu_note(result: dict) -> str:
    cpu = result.get("cpu_s")
    if not cpu:
        return ""
    return (f"; the timed loop used {cpu['user']:.0f} s user and {cpu['system']:.0f} s system CPU time, "
            f"{cpu['major_minor_faults'][1]} minor page faults")


def train_section(result: dict) -> str:
    w, h = result["input_size_wh"]
    lines = ["### Training step (forward, backward, Adam)", "", _machine_line(result), "",
             f"{result['model']}; width {result['width']}, batch {result['batch']}, input {w}x{h} (w x h), "
             f"{result['threads']} thread(s), median of {result['steps']} steps, variants interleaved; "
             f"malloc: {result.get('malloc', 'default')}{_cpu_note(result)}.", "",
             "| variant | median (ms) | ratio to static |", "|---|---:|---:|"]
    for variant, ms in result["median_ms"].items():
        lines.append(f"| {variant} | {ms:.0f} | {result['ratio_to_static'][variant]:.2f} |")
    return "\n".join(lines) + "\n"


def data_section(result: dict) -> str:
    lines = ["### Data pipeline (samples per second, one core)", "", _machine_line(result), "",
             f"Full training recipe per sample at 256x192 (decode, augmentation, warp, 17 heatmaps, "
             f"normalised tensor), one thread; reference: {result.get('reference', '?')}; OpenCV "
             f"{result.get('opencv', '?')}, NumPy {result.get('numpy', '?')}. Pipelines interleaved sample "
             f"by sample; medians over repeats (method: docs/data_pipeline.md).", "",
             "| data | records | decode only (/s) | posedy (/s) | HRNet (/s) | posedy / HRNet | ms/sample excl. decode: posedy / HRNet |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name in ("coco_sample", "synthetic"):
        entry = result.get(name)
        if not entry:
            continue
        hrnet = entry.get("hrnet") or {}
        lines.append(
            f"| {name} | {entry['records']} | {entry['decode_only']['median_samples_per_s']:.0f} | "
            f"{entry['posedy']['median_samples_per_s']:.0f} | {hrnet.get('median_samples_per_s', float('nan')):.0f} | "
            f"**{entry.get('ratio_posedy_over_hrnet', float('nan')):.3f}x** | "
            f"{entry['posedy']['ms_per_sample_excluding_decode']:.2f} / "
            f"{hrnet.get('ms_per_sample_excluding_decode', float('nan')):.2f} "
            f"({entry.get('ratio_excluding_decode', float('nan')):.1f}x) |")
    return "\n".join(lines) + "\n"


def postprocess_section(result: dict) -> str:
    lines = ["### Post-processing (rescoring, OKS-NMS, results JSON)", "", _machine_line(result), "",
             f"{result['num_boxes']} boxes over {result['num_images']} images (seeded synthetic predictions), "
             f"{result['kept']} poses kept.", "",
             "| step | seconds |", "|---|---:|",
             f"| rescoring + OKS-NMS + selection | {result['select_s']:.2f} |",
             f"| writing results.json ({result['json_mb']:.1f} MB) | {result['write_s']:.2f} |",
             f"| total, median of {len(result['total_s_all'])} | **{result['total_s']:.2f}** |"]
    if "hrnet_oks_nms_s" in result:
        lines += ["", f"OKS-NMS alone: posedy {result['ours_oks_nms_s']:.2f} s, HRNet's `oks_nms` image by image "
                      f"{result['hrnet_oks_nms_s']:.2f} s ({result['hrnet_over_ours']:.1f}x); same poses kept: "
                      f"{'yes' if result.get('same_keep_set') else 'NO'}."]
    return "\n".join(lines) + "\n"


def render(results, notes: str = "") -> str:
    parts = [BEGIN, "## Inference, training step, data pipeline, post-processing", "",
             "Generated by `tools/make_benchmark_doc.py` from `tools/benchmark.py ... --json`; do not edit by hand.", ""]
    for result in results:
        if result.get("benchmark") == "inference":
            parts.append(inference_section(result))
        elif result.get("benchmark") == "train-step":
            parts.append(train_section(result))
        elif result.get("benchmark") == "data":
            parts.append(data_section(result))
        elif result.get("benchmark") == "postprocess" or "num_boxes" in result:
            parts.append(postprocess_section(result))
    if notes:
        parts += [notes.strip(), ""]
    parts.append(END)
    return "\n".join(parts) + "\n"


def update_document(doc: Path, section: str) -> str:
    """``doc``'s text with the generated section replaced (or appended when absent)."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        return head + section + tail
    return text.rstrip("\n") + "\n\n" + section


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSON files from tools/benchmark.py --json")
    parser.add_argument("--notes", help="markdown file appended to the section (interpretation)")
    parser.add_argument("--doc", default="docs/benchmarks.md")
    args = parser.parse_args(argv)
    try:
        results = [json.loads(Path(p).read_text()) for p in args.results]
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    notes = Path(args.notes).read_text() if args.notes else ""
    doc = Path(args.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(update_document(doc, render(results, notes)))
    print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
