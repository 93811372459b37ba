"""Sample-report generator with truth files (`nianbao synth`). See README.md beside this file.

Content (`truth.ReportTruth`, `document.build`) is kept apart from printing (one renderer per
format: `render_text.TextRenderer` for the two text layouts of the seeds).
"""
from tasks.synth.defects import EXPECTED_RULE, KINDS
from tasks.synth.generate import RENDERERS, generate, main
from tasks.synth.truth import Defect, ReportTruth, expected_findings

__all__ = ["generate", "main", "ReportTruth", "Defect", "expected_findings", "KINDS",
           "EXPECTED_RULE", "RENDERERS"]
