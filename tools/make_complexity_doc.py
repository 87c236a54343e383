"""Write docs/complexity.md: our parameter and MAdds counts beside the paper's Tables 1, 8 and 10.

    python tools/make_complexity_doc.py [--output docs/complexity.md]
"""

import argparse
import datetime
import os
import platform
import sys

import torch

from posedy.models import paper_complexity as pc
from posedy.errors import tool_main
from posedy.fileio import atomic_write_text
from posedy.reports.complexity_doc import render_markdown


@tool_main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="docs/complexity.md", help="where to write (default docs/complexity.md)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python tools/make_complexity_doc.py" + ("".join(f" {a}" for a in (argv or sys.argv[1:])))
    provenance = (f"Produced {now} by `{command}` on {platform.machine()} {platform.system()} "
                  f"({os.cpu_count()} CPUs), Python {platform.python_version()}, torch {torch.__version__}, "
                  "one forward pass per model with batch 1 on CPU.")
    text = render_markdown(pc.table1_rows(), pc.table8_rows(), pc.mobilenet_v2_last_conv_rows(),
                           pc.table10_rows(), pc.type_a_alternatives(),
                           pc.mobilenet_v2_pose_readings(), pc.ablation_rows(), provenance)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    atomic_write_text(args.output, text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
