"""OCR of page images: the table grid from the ruling lines, each cell read on its own.

- Engine: the PP-OCRv6 recognition and detection models shipped in the `rapidocr` wheel
  (PyPI `rapidocr` + `onnxruntime`), loaded by explicit path, so nothing is ever fetched at run
  time (no network here). Recognition runs through onnxruntime directly (one thread, no
  spinning, no memory arena: extraction runs one process per core); table cells need no
  detection (the ruling-line grid gives each cell's box), so the detection model is loaded only
  when a page's running text is read. Missing engine → ReadError `ocr.unavailable`, the batch
  goes on.
- Grid (OpenCV): the page is binarised, its skew (±1–2°) measured on the long horizontal
  rules and undone, horizontal and vertical rules isolated by morphological opening with long
  thin kernels; every enclosed white region between rules is a cell, so merged cells come out
  as one cell spanning several rows/columns (`pdf_grid` recovers the rows × columns).
- Cells: ink inside a cell (rules removed) split into text lines by its horizontal profile;
  each line cropped tight and recognised in one batch per page. A cell's confidence is the
  lowest character probability of its text, lowered further when the text does not look like
  what a table cell holds (digits split by a gap, stray characters mixed into a number), so a
  doubtful number is `uncertain` (tasks.layout.UNCERTAIN_BELOW), never passed off as read.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.readers.grid import ReadError
from tasks.readers.pdf_grid import BoxCell, TablePart

log = logging.getLogger(__name__)

_ENGINE = None
_LOCK = threading.Lock()

# A cell with fewer ink pixels than this (after the rules are removed) is empty.
MIN_INK_PIXELS = 12
# Confidence given to a cell whose digits are split by a gap ("2 0": two numbers or one?).
SPLIT_DIGITS_CONFIDENCE = 0.4
# Confidence cap for a number cell that also holds stray characters.
MIXED_CONFIDENCE = 0.5
# Confidence cap for a number with more digits than glyphs seen in its cell.
EXTRA_DIGIT_CONFIDENCE = 0.5
# Non-Chinese, non-numeric text read with less confidence than this is noise: the cell is
# taken as empty (keeping its low confidence).
NOISE_BELOW = 0.5
# Stroke-like characters that specks and rule remnants beside a digit are read as.
NOISE_CJK = "一二三口日"

# Recognition input: the model's fixed height; each crop is run on its own at its own width,
# but never narrower than REC_MIN_WIDTH (the model reads a lone digit padded to about twice its
# height with near-certain confidence, squeezed to its own width with less), so a cell's reading
# does not depend on the other crops of the page.
REC_HEIGHT = 48
REC_MIN_WIDTH = 96
REC_MAX_WIDTH = 48 * 40


def _session(path: Path, arena: bool = False):
    """An onnxruntime CPU session: one thread and no spinning (extraction already runs one
    process per core), full graph optimisation. Without `arena`: no memory arena and no memory
    pattern (a process that has read a scan does not keep its peak). With `arena` (the
    detector, whose activations are tens of MB each): the planned memory pattern in an arena,
    emptied after each run by `_DetSession` — malloc'd one by one, those activations fragment
    the heap and the page's detection took twice its live set."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_cpu_mem_arena = arena
    so.enable_mem_pattern = arena
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


class Engine:
    """The recogniser (the PP-OCR rec model shipped in the `rapidocr` wheel) run by onnxruntime
    directly, CTC greedy decoding with each character's probability. The detection model is
    loaded only when a page's running text is read (`read_lines`)."""

    def __init__(self, models: Path):
        self.models = models
        self.rec = _session(models / "PP-OCRv6_rec_small.onnx")
        self.rec_input = self.rec.get_inputs()[0].name
        meta = self.rec.get_modelmeta().custom_metadata_map
        self.chars = ["blank"] + meta["character"].splitlines() + [" "]
        self._det = None

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, list[float]]]:
        """Gray (or BGR) line crops → [(text, each character's probability)], in order."""
        import cv2

        out: list[tuple[str, list[float]]] = []
        for crop in crops:
            g = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
            h, w = g.shape
            width = max(1, min(int(np.ceil(REC_HEIGHT * w / h)), REC_MAX_WIDTH))
            x = np.zeros((1, 3, REC_HEIGHT, max(width, REC_MIN_WIDTH)), np.float32)
            x[0, :, :, :width] = cv2.resize(g, (width, REC_HEIGHT)).astype(np.float32) / 127.5 - 1.0
            probs = self.rec.run(None, {self.rec_input: x})[0][0]
            idx = probs.argmax(axis=1)
            best = probs.max(axis=1)
            keep = np.ones(len(idx), bool)
            keep[1:] = idx[1:] != idx[:-1]
            keep &= idx != 0
            out.append(("".join(self.chars[k] for k in idx[keep]),
                        [round(float(p), 5) for p in best[keep]]))
        return out

    def detector(self):
        """RapidOCR's text detector (DB post-processing), one thread, its arena emptied after
        each run; run it through `detect_boxes` (strips of the page)."""
        if self._det is None:
            with _LOCK:
                if self._det is None:
                    from omegaconf import flag_override
                    from rapidocr import RapidOCR
                    from rapidocr.ch_ppocr_det import TextDetector

                    eng = RapidOCR(params={
                        "Global.use_cls": False, "Global.log_level": "warning",
                        "Global.model_root_dir": str(self.models),
                        "Det.model_path": str(self.models / "PP-OCRv6_det_small.onnx"),
                        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                    })
                    # RapidOCR's own detector settings (what `_load_det_model` builds), run by
                    # a session of ours (see `_session`), the model loaded once
                    cfg = eng.cfg.Det
                    cfg.engine_cfg = eng.cfg.EngineConfig[cfg.engine_type.value]
                    cfg.model_root_dir = eng.cfg.Global.model_root_dir
                    sess = _session(self.models / "PP-OCRv6_det_small.onnx", arena=True)
                    with flag_override(cfg, "allow_objects", True):
                        cfg.session = sess
                    det = TextDetector(cfg)
                    det.session = _DetSession(sess)
                    det.get_preprocess = lambda d=det: _lean_det_preprocess(d)
                    # detect_boxes resizes the page as RapidOCR would (these limits), then
                    # runs the detector on strips of it that it must not resize again
                    det.page_limit = (det.limit_type, det.limit_side_len)
                    det.limit_type, det.limit_side_len = "max", 1 << 30
                    self._det = det
        return self._det


def _lean_det_preprocess(det):
    """RapidOCR's detection preprocessing (DetPreProcess: resize to multiples of 32,
    (x / 255 - mean) / std, CHW float32) with the same arithmetic — float32 scaling, then
    float64 for the mean and std — done one channel at a time into the output, instead of
    whole-image float32 and float64 temporaries (about 60 MB for a page)."""
    from rapidocr.ch_ppocr_det.utils import DetPreProcess

    class Lean(DetPreProcess):
        def __call__(self, img: np.ndarray) -> np.ndarray | None:
            resized = self.resize(img)
            if resized is None:
                return None
            h, w, c = resized.shape
            out = np.empty((1, c, h, w), np.float32)
            for ch in range(c):
                t = resized[:, :, ch].astype("float32")
                t *= self.scale
                out[0, ch] = (t - self.mean[ch]) / self.std[ch]
            return out

    return Lean(det.limit_side_len, det.limit_type, det.mean, det.std)


class _DetSession:
    """The detector's session run with its arena emptied after each run (the arena's memory
    goes back to the system instead of staying as the process's settled size)."""

    def __init__(self, session):
        import onnxruntime as ort

        self.session = session
        self.input = session.get_inputs()[0].name
        self.run_options = ort.RunOptions()
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: x}, self.run_options)[0]


def engine() -> Engine:
    """The shared OCR engine (loaded once per process, thread-safe). Raises ReadError when it
    cannot run here."""
    global _ENGINE
    if _ENGINE is not None:
        return _ENGINE
    with _LOCK:
        if _ENGINE is not None:
            return _ENGINE
        try:
            import importlib.util

            import onnxruntime  # noqa: F401
            spec = importlib.util.find_spec("rapidocr")    # its models only: not imported
            if spec is None or spec.origin is None:
                raise ImportError("No module named 'rapidocr'")
        except Exception as e:   # noqa: BLE001 — ImportError, or onnxruntime failing to load
            raise ReadError("ocr.unavailable",
                            f"扫描件需要文字识别（OCR），但本机未安装可用的OCR引擎：{e}") from e
        models = Path(spec.origin).parent / "models"
        det = models / "PP-OCRv6_det_small.onnx"
        rec = models / "PP-OCRv6_rec_small.onnx"
        if not det.is_file() or not rec.is_file():
            raise ReadError("ocr.unavailable", "扫描件需要文字识别（OCR），但OCR模型文件缺失")
        try:
            _ENGINE = Engine(models)
        except Exception as e:   # noqa: BLE001
            raise ReadError("ocr.unavailable", f"OCR引擎无法启动：{type(e).__name__}: {e}") from e
        return _ENGINE


_LIBC = None


def trim_heap() -> None:
    """Give the heap's free pages back to the system (glibc malloc_trim). A page's numpy and
    OpenCV temporaries are freed but glibc keeps the pages (the big ones fall under its raised
    mmap threshold), so each page would start from the last one's high-water mark."""
    global _LIBC
    if _LIBC is None:
        import ctypes

        try:
            _LIBC = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):     # not glibc
            _LIBC = False
    if _LIBC:
        _LIBC(0)


def render_page(page, dpi: int) -> np.ndarray:
    """A pypdfium2 page → 8-bit grayscale image at `dpi`."""
    bitmap = page.render(scale=dpi / 72.0, grayscale=True)
    img = np.array(bitmap.to_pil().convert("L"))
    return img


# --- geometry ----------------------------------------------------------------------------

def binarize(gray: np.ndarray) -> np.ndarray:
    """Ink = 255. Adaptive, so uneven scan backgrounds do not turn into ink."""
    import cv2

    blur = cv2.GaussianBlur(gray, (3, 3), 0)
    return cv2.adaptiveThreshold(blur, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                 31, 15)


def _rules(bw: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = bw.shape
    hk = max(int(w / 35 * scale), 20)
    vk = max(int(h / 70 * scale), 15)
    horiz = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (hk, 1)))
    vert = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, vk)))
    return horiz, vert


def skew_angle(bw: np.ndarray) -> float:
    """Skew in degrees (positive = counter-clockwise text) from the long horizontal rules and
    text baselines, by maximising the sharpness of the row profile over candidate angles."""
    import cv2

    h, w = bw.shape
    small = cv2.resize(bw, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    horiz, _ = _rules(small, scale=0.6)
    src = horiz if horiz.sum() > 255 * small.shape[1] * 2 else small
    best, best_a = -1.0, 0.0
    center = (small.shape[1] / 2, small.shape[0] / 2)
    for a in np.arange(-2.0, 2.01, 0.1):
        m = cv2.getRotationMatrix2D(center, a, 1.0)
        rot = cv2.warpAffine(src, m, (small.shape[1], small.shape[0]), flags=cv2.INTER_NEAREST,
                             borderValue=0)
        prof = rot.sum(axis=1, dtype=np.float64)
        score = float((prof ** 2).sum())
        if score > best:
            best, best_a = score, float(a)
    # refine around the best
    for a in np.arange(best_a - 0.09, best_a + 0.095, 0.03):
        m = cv2.getRotationMatrix2D(center, a, 1.0)
        rot = cv2.warpAffine(src, m, (small.shape[1], small.shape[0]), flags=cv2.INTER_NEAREST,
                             borderValue=0)
        prof = rot.sum(axis=1, dtype=np.float64)
        score = float((prof ** 2).sum())
        if score > best:
            best, best_a = score, float(a)
    return best_a


def deskew(gray: np.ndarray) -> tuple[np.ndarray, float]:
    import cv2

    angle = skew_angle(binarize(gray))
    if abs(angle) < 0.05:
        return gray, 0.0
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_CUBIC, borderValue=255)
    return out, angle


@dataclass
class PxCell:
    x0: int
    y0: int
    x1: int
    y1: int


def find_tables(gray: np.ndarray) -> list[tuple[tuple[int, int, int, int], list[PxCell], np.ndarray]]:
    """Ruled tables in a deskewed page image: [(table box, cells, rule mask)] in pixels."""
    import cv2

    bw = binarize(gray)
    horiz, vert = _rules(bw)
    # close small gaps in the rules (scan noise, JPEG)
    horiz = cv2.morphologyEx(horiz, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    vert = cv2.morphologyEx(vert, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 9)))
    rules = cv2.bitwise_or(horiz, vert)
    rules = cv2.dilate(rules, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    h, w = gray.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(rules, connectivity=8)
    tables = []
    for i in range(1, n):
        x, y, bw_, bh, area = stats[i]
        if bw_ < w * 0.25 or bh < 20:
            continue
        mask = (labels[y:y + bh, x:x + bw_] == i).astype(np.uint8) * 255
        # need both horizontal and vertical rules to be a table
        if vert[y:y + bh, x:x + bw_].sum() < 255 * bh or horiz[y:y + bh, x:x + bw_].sum() < 255 * bw_ * 2:
            continue
        cells = _cells_in(mask, x, y)
        if len(cells) >= 2:
            tables.append(((int(x), int(y), int(x + bw_), int(y + bh)), cells, mask))
    tables.sort(key=lambda t: t[0][1])
    return tables


def _cells_in(mask: np.ndarray, ox: int, oy: int) -> list[PxCell]:
    """The white regions enclosed by the rules of one table."""
    import cv2

    inv = cv2.bitwise_not(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    mh, mw = mask.shape
    cells = []
    for i in range(1, n):
        x, y, cw, ch, area = stats[i]
        if x == 0 or y == 0 or x + cw >= mw or y + ch >= mh:
            continue          # outside the table frame
        if cw < 8 or ch < 8:
            continue
        if area < 0.5 * cw * ch:
            continue          # not a box (an odd gap between rules)
        cells.append(PxCell(int(ox + x), int(oy + y), int(ox + x + cw), int(oy + y + ch)))
    return cells


@dataclass
class Ink:
    mask: np.ndarray       # kept ink (255) in the cell's interior
    glyphs: int            # components tall enough to be a character or a digit


def clean_ink(ink: np.ndarray) -> Ink | None:
    """A cell's ink without scan specks and rule remnants, or None when nothing is left.

    Glyphs are the components at least a third as tall as the tallest one. A smaller component
    is kept only beside a glyph, within the glyph's height band (a decimal point, a comma, a
    stroke of a Chinese character); a speck above, below or away from the text is dropped, so
    noise is not read as a digit."""
    import cv2

    n, lab, st, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return None
    h, w = ink.shape
    comps = []
    for i in range(1, n):
        x, y, cw, ch, area = (int(v) for v in st[i])
        if (ch <= 4 and cw > 0.5 * w) or (cw <= 4 and ch > 0.6 * h):
            continue          # what is left of a rule along the cell's edge
        comps.append((i, x, y, cw, ch, area))
    sized = [c for c in comps if c[5] >= 4]
    if not sized:
        return None
    hmax = max(c[4] for c in sized)
    if hmax < 5:
        return None
    big = [c for c in comps if c[4] >= hmax / 3 and c[5] >= 8]
    if not big:
        return None
    reach = 0.5 * hmax
    keep = {c[0] for c in big}
    for c in comps:
        if c[0] in keep:
            continue
        cx0, cy0, cx1, cy1 = c[1], c[2], c[1] + c[3], c[2] + c[4]
        for b in big:
            bx0, by0, bx1, by1 = b[1], b[2], b[1] + b[3], b[2] + b[4]
            dx = max(bx0 - cx1, cx0 - bx1, 0)
            inside_band = cy0 >= by0 - 2 and cy1 <= by1 + 2
            if dx <= reach and inside_band:
                keep.add(c[0])
                break
    out = np.where(np.isin(lab, list(keep)), 255, 0).astype(np.uint8)
    if out.sum() / 255 < MIN_INK_PIXELS:
        return None
    return Ink(out, len(big))


def _ink_lines(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Text lines in a cell's ink: [(y0, y1, x0, x1)] by the horizontal profile."""
    rows = np.where(ink.sum(axis=1) > 0)[0]
    if rows.size == 0:
        return []
    bands: list[list[int]] = [[int(rows[0]), int(rows[0])]]
    for r in rows[1:]:
        if r - bands[-1][1] <= 2:
            bands[-1][1] = int(r)
        else:
            bands.append([int(r), int(r)])
    out = []
    for y0, y1 in bands:
        if y1 - y0 < 3:
            continue          # a speck, not a line of text
        band = ink[y0:y1 + 1]
        cols = np.where(band.sum(axis=0) > 0)[0]
        if cols.size == 0:
            continue
        if band.sum() / 255 < MIN_INK_PIXELS:
            continue
        out.append((y0, y1 + 1, int(cols[0]), int(cols[-1]) + 1))
    # a line split by the profile into a thin piece (a quote mark, a dot) joins its neighbour
    merged: list[tuple[int, int, int, int]] = []
    for b in out:
        if merged and (b[1] - b[0] < 8 or merged[-1][1] - merged[-1][0] < 8) and b[0] - merged[-1][1] < 6:
            p = merged.pop()
            b = (p[0], b[1], min(p[2], b[2]), max(p[3], b[3]))
        merged.append(b)
    return merged


# Crops for the recogniser: the ink's tight box plus a white margin (a fraction of the line
# height), at least MIN_RATIO wide for its height, so a lone digit is not read from a sliver.
CROP_MARGIN = 0.3
MIN_RATIO = 1.2


def line_crop(gray: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray | None:
    import cv2

    crop = gray[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    h, w = crop.shape
    m = max(int(round(h * CROP_MARGIN)), 2)
    side = max(m, int((MIN_RATIO * (h + 2 * m) - w) / 2))
    crop = cv2.copyMakeBorder(crop, m, m, side, side, cv2.BORDER_CONSTANT, value=255)
    return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)


@dataclass
class _Job:
    cell: int
    crop: np.ndarray


def read_tables(gray: np.ndarray, dpi: int, page_no: int, engine=None,
                do_deskew: bool = True) -> list[TablePart]:
    """Ruled tables of one page image, each cell OCR'd. Boxes are returned in PDF points."""
    import cv2

    eng = engine or globals()["engine"]()
    if do_deskew:
        gray, _ = deskew(gray)
    tables = find_tables(gray)
    if not tables:
        return []
    bw = binarize(gray)
    k = 72.0 / dpi
    parts: list[TablePart] = []
    jobs: list[_Job] = []
    all_cells: list[tuple[int, PxCell]] = []
    for t_i, (tbox, cells, mask) in enumerate(tables):
        for c in cells:
            all_cells.append((t_i, c))
    lines_of: dict[int, int] = {}
    glyphs: dict[int, int] = {}
    for ci, (t_i, c) in enumerate(all_cells):
        pad = 2
        x0, y0, x1, y1 = c.x0 + pad, c.y0 + pad, c.x1 - pad, c.y1 - pad
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        ink = clean_ink(bw[y0:y1, x0:x1])
        if ink is None:
            continue
        glyphs[ci] = ink.glyphs
        # the recogniser sees only the kept ink (and its anti-aliased rim), on white
        keep = cv2.dilate(ink.mask, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
        region = np.where(keep > 0, gray[y0:y1, x0:x1], 255).astype(np.uint8)
        for (ly0, ly1, lx0, lx1) in _ink_lines(ink.mask):
            crop = line_crop(region, ly0, ly1, lx0, lx1)
            if crop is None:
                continue
            jobs.append(_Job(ci, crop))
            lines_of[ci] = lines_of.get(ci, 0) + 1
    texts: dict[int, list[tuple[str, float]]] = {}
    if jobs:
        for j, (txt, confs) in zip(jobs, eng.recognize([j.crop for j in jobs])):
            texts.setdefault(j.cell, []).append((txt, min(confs) if txt else 0.0))
    by_table: dict[int, list[BoxCell]] = {}
    for ci, (t_i, c) in enumerate(all_cells):
        got = texts.get(ci, [])
        text = "".join(t for t, _ in got)
        conf = min((s for _, s in got), default=1.0)
        text, conf = _check(text, conf, glyphs.get(ci))
        if len(got) > 1 and re.fullmatch(r"[\d.,\s]+", text):
            # digits on two lines of one cell: a number wrapped, or two rows whose rule was
            # lost in the scan ("3" over "5" is not 35) — never a certain value
            conf = min(conf, SPLIT_DIGITS_CONFIDENCE)
        bbox = (round(c.x0 * k, 2), round(c.y0 * k, 2), round(c.x1 * k, 2), round(c.y1 * k, 2))
        by_table.setdefault(t_i, []).append(BoxCell(bbox=bbox, text=text, page=page_no,
                                                    confidence=round(conf, 4)))
    for t_i, (tbox, cells, mask) in enumerate(tables):
        bcs = by_table.get(t_i, [])
        if not bcs:
            continue
        bbox = tuple(round(v * k, 2) for v in tbox)
        part = TablePart(page=page_no, bbox=bbox, cells=bcs, page_height=gray.shape[0] * k)
        if part.n_cols >= 2:
            parts.append(part)
    del bw, jobs, tables
    trim_heap()        # the page's temporaries: the next page (or the detector) starts lower
    return parts




def _check(text: str, conf: float, glyphs: int | None = None) -> tuple[str, float]:
    """Normalise one cell's OCR text and cap the confidence of doubtful numbers: digits split
    by a gap, stray characters, a leading zero ("05"), or more digits than the glyphs seen in
    the cell (a digit read into noise)."""
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return "", conf
    if conf < NOISE_BELOW and not any("\u4e00" <= ch <= "\u9fff" for ch in t) \
            and not re.fullmatch(r"\d+(?:\.\d+)?", t):
        return "", conf       # noise read as letters: an unsure empty cell, not a value
    digits = sum(ch.isdigit() for ch in t)
    if digits and digits >= 0.5 * len(t.replace(" ", "")):
        if any(ch in NOISE_CJK for ch in t):
            # scan noise beside a digit read as a stroke-like character ("0二"): the cell is
            # a number cell (the row stays a data row), its value never certain
            t = "".join(ch for ch in t if ch not in NOISE_CJK).strip()
            conf = min(conf, MIXED_CONFIDENCE)
        if re.search(r"\d\s+\d", t):
            conf = min(conf, SPLIT_DIGITS_CONFIDENCE)
        core = t.replace(" ", "")
        if not re.fullmatch(r"\d+(?:\.\d+)?", core):
            conf = min(conf, MIXED_CONFIDENCE)
        elif re.match(r"0\d", core):
            conf = min(conf, MIXED_CONFIDENCE)
        if glyphs is not None and sum(ch.isdigit() for ch in core) > glyphs:
            conf = min(conf, EXTRA_DIGIT_CONFIDENCE)
    return t, conf


# --- running text of a page (title lines) -------------------------------------------------

# Detection runs over horizontal strips of the page (its activations, tens of MB per
# channel group for a whole page, scale with the area it sees): DET_STRIP rows at a time,
# overlapping by DET_OVERLAP rows, more than the tallest title line at detection scale.
DET_STRIP = 384
DET_OVERLAP = 96


def detect_boxes(det, img: np.ndarray, strip: int = DET_STRIP,
                 overlap: int = DET_OVERLAP) -> tuple[list[np.ndarray], float]:
    """RapidOCR's text boxes on a grayscale page image, detected strip by strip; returns the
    boxes (4 points each) in the coordinates of `img` resized by the returned factor.

    The page is first resized as the detector would resize it whole (its limit on the side);
    each strip then goes through the detector unresized. A box belongs to the strip whose
    middle part (the strip without half the overlap at either inner edge) holds its centre:
    a line cut by one strip's edge lies whole in the next one, and no line is read twice.
    The peak memory is that of one strip (a page at 200 dpi: a third of a whole page's)."""
    import cv2

    h, w = img.shape
    limit_type, side = det.page_limit
    if limit_type == "max":
        fit = side / max(h, w) if max(h, w) > side else 1.0
    else:
        fit = side / min(h, w) if min(h, w) < side else 1.0
    if fit != 1.0:
        img = cv2.resize(img, (max(1, int(w * fit)), max(1, int(h * fit))))
        h, w = img.shape
    step = max(1, strip - overlap)
    starts = [0] if h <= strip else list(range(0, h - strip, step)) + [h - strip]
    boxes: list[np.ndarray] = []
    for k, y0 in enumerate(starts):
        y1 = min(h, y0 + strip)
        lo = 0 if k == 0 else (y0 + min(y1, starts[k - 1] + strip)) / 2
        hi = h if k == len(starts) - 1 else (starts[k + 1] + y1) / 2
        trim_heap()       # the activations start from the page's settled size
        res = det(cv2.cvtColor(img[y0:y1], cv2.COLOR_GRAY2BGR))
        for b in ([] if res.boxes is None else res.boxes):
            b = np.asarray(b, dtype=np.float64) + (0.0, y0)
            cy = (b[:, 1].min() + b[:, 1].max()) / 2
            if lo <= cy < hi:
                boxes.append(b)
    return boxes, fit


def read_lines(gray: np.ndarray, dpi: int, engine=None, exclude: list | None = None,
               max_lines: int = 12, do_deskew: bool = True) -> list[str]:
    """The page's text lines outside the tables, top to bottom (detection on a half-size
    image, recognition at full size)."""
    import cv2

    eng = engine or globals()["engine"]()
    if do_deskew:
        gray, _ = deskew(gray)
    h, w = gray.shape
    k = 72.0 / dpi
    scale = 0.5
    small = cv2.resize(gray, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    boxes, fit = detect_boxes(eng.detector(), small)
    scale *= fit
    items = []
    for b in boxes:
        xs, ys = [p[0] / scale for p in b], [p[1] / scale for p in b]
        x0, y0, x1, y1 = max(min(xs) - 3, 0), max(min(ys) - 3, 0), min(max(xs) + 3, w), min(max(ys) + 3, h)
        cy_pt = (y0 + y1) / 2 * k
        cx_pt = (x0 + x1) / 2 * k
        if exclude and any(e[0] <= cx_pt <= e[2] and e[1] <= cy_pt <= e[3] for e in exclude):
            continue
        items.append((int(y0), int(y1), int(x0), int(x1)))
    # group boxes into lines by vertical overlap; only the first max_lines lines are read
    items.sort()
    groups: list[list[tuple[int, int, int, int]]] = []
    for it in items:
        mid = (it[0] + it[1]) / 2
        for g in groups:
            if min(i[0] for i in g) <= mid <= max(i[1] for i in g):
                g.append(it)
                break
        else:
            groups.append([it])
    groups.sort(key=lambda g: min(i[0] for i in g))
    groups = [sorted(g, key=lambda i: i[2]) for g in groups[:max_lines]]
    flat = [it for g in groups for it in g]
    if not flat:
        return []
    crops = [line_crop(gray, y0, y1, x0, x1) for y0, y1, x0, x1 in flat]
    txt_of = dict(zip(map(id, flat), (t for t, _ in eng.recognize(crops))))
    from tasks.readers.pdf import join_wrapped

    lines = []
    for g in groups:
        text = "".join(txt_of[id(it)] for it in g).strip()
        if text:
            heights = sorted(it[1] - it[0] for it in g)
            lines.append((min(it[2] for it in g), max(it[3] for it in g),
                          float(heights[len(heights) // 2]), text))
    return join_wrapped(lines)
