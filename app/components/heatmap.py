"""The paper's Fig. 4 as one plotly heatmap: title row, then one row per read sentence, words shaded.

Two narrow columns on the left carry the sentence-level values ("ori" and "tg" attention, or the
sentence evidence of one tag). Rows longer than WORDS_PER_ROW words wrap onto continuation rows,
so a 30-word title and ten 30-word sentences stay readable at a fixed cell size.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.subplots import make_subplots

WORDS_PER_ROW = 12
CELL_WIDTH = 76  # pixels per word cell
SIDE_CELL_WIDTH = 46  # pixels per sentence-level column
CELL_HEIGHT = 26
MAX_WORD_CHARACTERS = 10  # longer words are cut in the cell (the hover shows them whole)
MAX_UNREAD_WORDS_SHOWN = WORDS_PER_ROW  # per title or sentence; the rest are counted in one cell
MAX_UNREAD_SENTENCES_LISTED = 20
EVEN_SHARE_MULTIPLE = 3.0
UNREAD_GREY = "#d4d4d4"
SEPARATOR_GREY = "#b0b0b0"
ATTENTION_COLOURS = "Purples"
SENTENCE_ATTENTION_COLOURS = "Reds"
EVIDENCE_COLOURS = "RdBu_r"  # negative blue, 0 white, positive red


@dataclass
class Cell:
    """One word. `value` None with `read` True: the model read it but has no value for it."""

    word: str
    value: float | None
    read: bool = True
    known: bool = True
    shade: float | None = None  # the colour position: value scaled to the row (attention) or grid (evidence)


@dataclass
class Row:
    label: str  # the tick label: "title", "s3", or "" on a continuation row
    description: str  # for hovers: "title", "sentence 3", "sentence 3 (continued)"
    cells: list[Cell]
    side_values: list[float | None] = field(default_factory=list)  # empty: the side columns are blank
    side_shades: list[float | None] = field(default_factory=list)


@dataclass
class Grid:
    rows: list[Row]
    side_columns: list[str]  # e.g. ["ori", "tg"] or ["evidence"]
    side_descriptions: list[str]  # e.g. ["original sentence attention", ...] for hovers
    value_name: str  # "word attention" or "evidence"
    signed: bool  # evidence: diverging colours centred on 0
    unread_sentences: list[str] = field(default_factory=list)
    omitted_sentences: int = 0
    missing: list[str] = field(default_factory=list)  # what this model variation does not compute


# ---- building the grid (no drawing) ------------------------------------------------------------
def segment_cells(tokens: Sequence, values: Sequence[float] | None) -> list[Cell]:
    """Cells for a title or sentence: read tokens paired with `values`, then a few unread ones greyed."""
    read_tokens = [token for token in tokens if token.read]
    unread_tokens = [token for token in tokens if not token.read]
    aligned = list(values) if values is not None else []
    cells = [
        Cell(token.text, aligned[index] if index < len(aligned) else None, True, token.known)
        for index, token in enumerate(read_tokens)
    ]
    cells += [Cell(token.text, None, False, token.known) for token in unread_tokens[:MAX_UNREAD_WORDS_SHOWN]]
    hidden = len(unread_tokens) - MAX_UNREAD_WORDS_SHOWN
    if hidden > 0:
        cells.append(Cell(f"+{hidden} more", None, False, True))
    return cells


def wrap_rows(label: str, description: str, cells: list[Cell], side_values: list[float | None]) -> list[Row]:
    """One segment as rows of at most WORDS_PER_ROW cells, balanced (13 words: 7 + 6, not 12 + 1);
    only the first row carries the side values."""
    row_count = max(1, math.ceil(len(cells) / WORDS_PER_ROW))
    size = max(1, math.ceil(len(cells) / row_count))
    chunks = [cells[start : start + size] for start in range(0, len(cells), size)] or [[]]
    rows = [Row(label, description, chunks[0], list(side_values))]
    rows += [Row("", f"{description} (continued)", chunk) for chunk in chunks[1:]]
    return rows


def _scale_by_segment(cells: list[Cell]) -> None:
    """Attention: darkest = the largest weight of this title or sentence (weights sum to 1 per segment).

    The scale never goes below EVEN_SHARE_MULTIPLE times an even share, so a row whose weights are all
    about equal stays light instead of turning uniformly dark.
    """
    values = [cell.value for cell in cells if cell.value is not None]
    floor = min(1.0, EVEN_SHARE_MULTIPLE / len(values)) if values else 0.0
    largest = max(values + [floor])
    for cell in cells:
        cell.shade = None if cell.value is None else (cell.value / largest if largest > 0 else 0.0)


def _scale_symmetric(values: list[float | None]) -> list[float | None]:
    largest = max((abs(value) for value in values if value is not None), default=0.0)
    return [None if value is None else (value / largest if largest > 0 else 0.0) for value in values]


def _scale_to_largest(values: list[float | None]) -> list[float | None]:
    largest = max((value for value in values if value is not None), default=0.0)
    return [None if value is None else (value / largest if largest > 0 else 0.0) for value in values]


def build_grid(
    document,
    title_values: Sequence[float] | None,
    sentence_values: Sequence[Sequence[float]] | None,
    side_columns: dict[str, Sequence[float] | None],
    *,
    value_name: str,
    signed: bool,
    side_descriptions: Sequence[str] = (),
    whole_document: bool = False,
) -> Grid:
    """The grid for one document (an EncodedDocument): title row, then the read sentences.

    `title_values` align with the title's read tokens, `sentence_values[r]` with read sentence r's read
    tokens, each side column with the read sentences; None means the model does not compute it.
    Unsigned values are shaded per title and sentence (each sums to 1), or over the `whole_document`.
    """
    sentences = document.read_sentences
    segments = [("title", "title", segment_cells(document.title.tokens, title_values))]
    for index, sentence in enumerate(sentences):
        values = (
            sentence_values[index] if sentence_values is not None and index < len(sentence_values) else None
        )
        segments.append((f"s{index + 1}", f"sentence {index + 1}", segment_cells(sentence.tokens, values)))
    _shade_words([cells for _, _, cells in segments], signed, whole_document)
    side = _side_columns(side_columns, len(sentences), signed)
    rows: list[Row] = []
    for position, (label, description, cells) in enumerate(segments):
        values = [] if position == 0 else [column[0][position - 1] for column in side]
        segment_rows = wrap_rows(label, description, cells, values)
        if position > 0:
            segment_rows[0].side_shades = [column[1][position - 1] for column in side]
        rows += segment_rows
    unread = [
        document.content_text[sentence.start : sentence.end]
        for sentence in document.sentences
        if not sentence.read
    ]
    return Grid(
        rows,
        list(side_columns),
        list(side_descriptions) or list(side_columns),
        value_name,
        signed,
        unread[:MAX_UNREAD_SENTENCES_LISTED],
        document.omitted_sentences + max(0, len(unread) - MAX_UNREAD_SENTENCES_LISTED),
    )


def _shade_words(segments: list[list[Cell]], signed: bool, whole_document: bool = False) -> None:
    every = [cell for cells in segments for cell in cells]
    if not signed:
        for cells in [every] if whole_document else segments:
            _scale_by_segment(cells)
        return
    for cell, shade in zip(every, _scale_symmetric([cell.value for cell in every])):
        cell.shade = shade


def _side_columns(columns: dict[str, Sequence[float] | None], count: int, signed: bool):
    """Per column: (values per read sentence, shades per read sentence); None values where not computed."""
    prepared = []
    for values in columns.values():
        aligned = [
            values[index] if values is not None and index < len(values) else None for index in range(count)
        ]
        prepared.append((aligned, _scale_symmetric(aligned) if signed else _scale_to_largest(aligned)))
    return prepared


def attention_grid(explanation, variation: str) -> Grid:
    """Fig. 4 for an Explanation: word attention in the cells, ori and tg sentence attention on the left."""
    grid = build_grid(
        explanation.document,
        explanation.title_word_attention,
        explanation.sentence_word_attention,
        {"ori": explanation.original_sentence_attention, "tg": explanation.title_guided_sentence_attention},
        value_name="word attention",
        signed=False,
        side_descriptions=["original sentence attention", "title-guided sentence attention"],
    )
    grid.missing = missing_attention(explanation, variation)
    return grid


def missing_attention(explanation, variation: str) -> list[str]:
    """Sentences naming each attention distribution this model variation does not compute."""
    names = [
        ("title word attention", explanation.title_word_attention),
        ("sentence word attention", explanation.sentence_word_attention),
        ("original sentence attention (ori)", explanation.original_sentence_attention),
        ("title-guided sentence attention (tg)", explanation.title_guided_sentence_attention),
    ]
    return [
        f"This model ({variation}) has no {name}; its cells are left blank."
        for name, values in names
        if values is None
    ]


def evidence_grid(document, evidence) -> Grid:
    """The same layout for a TagEvidence: signed word evidence, and each sentence's total on the left."""
    return build_grid(
        document,
        evidence.title_word_evidence,
        evidence.sentence_word_evidence,
        {"evidence": evidence.sentence_evidence},
        value_name=f"evidence for '{html.escape(evidence.label, quote=False)}'",
        signed=True,
        side_descriptions=["sentence evidence (sum of its words)"],
    )


def component_evidence_grid(document, evidence, component) -> Grid:
    """The same layout for one component of a TagEvidence: its word evidence in calibrated log odds."""
    totals = [float(sum(row)) for row in component.sentence_word_evidence]
    return build_grid(
        document,
        component.title_word_evidence,
        component.sentence_word_evidence,
        {"evidence": totals},
        value_name=f"{component.label}'s evidence for '{html.escape(evidence.label, quote=False)}'",
        signed=True,
        side_descriptions=["sentence evidence (sum of its words)"],
    )


def label_attention_grid(document, evidence) -> Grid:
    """The tag's own attention (a model trained with label attention) in the same layout, no side column."""
    return build_grid(
        document,
        evidence.title_word_attention,
        evidence.sentence_word_attention,
        {},
        value_name=f"attention of '{html.escape(evidence.label, quote=False)}'",
        signed=False,
        whole_document=True,
    )


# ---- drawing ----------------------------------------------------------------------------------
def cell_text(cell: Cell) -> str:
    """What the cell shows: the word (cut if long); unknown words in italics with a '?'."""
    word = cell.word if len(cell.word) <= MAX_WORD_CHARACTERS else cell.word[: MAX_WORD_CHARACTERS - 1] + "…"
    word = html.escape(word, quote=False)
    return f"<i>{word}?</i>" if not cell.known else word


def cell_hover(cell: Cell, row: Row, value_name: str) -> str:
    word = html.escape(cell.word, quote=False)
    if not cell.read:
        return f"{row.description}: <b>{word}</b><br>not read: beyond the model's word limit"
    status = "<br><i>unknown to the model (read as the unknown-word token)</i>" if not cell.known else ""
    value = "not computed by this model" if cell.value is None else f"{cell.value:.4f}"
    return f"{row.description}: <b>{word}</b><br>{value_name}: {value}{status}"


def _word_matrices(grid: Grid):
    """z, text and hover matrices for read cells (shaded) and unread cells (grey), padded with None."""
    width = max([len(row.cells) for row in grid.rows] + [1])
    shaded = [[None] * width for _ in grid.rows]
    greyed = [[None] * width for _ in grid.rows]
    texts = [[""] * width for _ in grid.rows]
    hovers = [[""] * width for _ in grid.rows]
    for row_index, row in enumerate(grid.rows):
        for column, cell in enumerate(row.cells):
            texts[row_index][column] = cell_text(cell)
            hovers[row_index][column] = cell_hover(cell, row, grid.value_name)
            if cell.read and cell.shade is not None:
                shaded[row_index][column] = cell.shade
            else:
                greyed[row_index][column] = 1.0 if not cell.read else 0.0
    return width, shaded, greyed, texts, hovers


def _side_matrices(grid: Grid):
    shades, texts, hovers = [], [], []
    for row in grid.rows:
        shades.append(
            [
                row.side_shades[index] if index < len(row.side_shades) else None
                for index in range(len(grid.side_columns))
            ]
        )
        texts.append(
            [
                ""
                if index >= len(row.side_values) or row.side_values[index] is None
                else _side_text(row.side_values[index], grid.signed)
                for index in range(len(grid.side_columns))
            ]
        )
        hovers.append([_side_hover(row, index, grid) for index in range(len(grid.side_columns))])
    return shades, texts, hovers


def _side_text(value: float, signed: bool) -> str:
    """Attention as 0.12, evidence with its sign (+0.12); the hover gives the exact value."""
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _side_hover(row: Row, index: int, grid: Grid) -> str:
    if index >= len(row.side_values):
        return ""
    value = row.side_values[index]
    shown = "not computed by this model" if value is None else f"{value:.4f}"
    return f"{row.description}<br>{grid.side_descriptions[index]}: {shown}"


def segment_starts(grid: Grid) -> list[int]:
    """Indices of the rows that begin the title or a sentence (continuation rows have no label)."""
    return [index for index, row in enumerate(grid.rows) if row.label]


def figure_size(grid: Grid) -> tuple[int, int, int, int]:
    """(width, height, side width, words width) in pixels, from the grid's shape."""
    width_in_words = max([len(row.cells) for row in grid.rows] + [1])
    side_width = SIDE_CELL_WIDTH * len(grid.side_columns)
    words_width = CELL_WIDTH * width_in_words
    return side_width + words_width + 70, CELL_HEIGHT * len(grid.rows) + 50, side_width, words_width


def heatmap_figure(grid: Grid) -> go.Figure:
    """One figure: side columns (left subplot) and words (right subplot) sharing the rows."""
    width, height, side_width, words_width = figure_size(grid)
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=8 / (side_width + words_width),
        column_widths=[side_width, words_width],
    )
    rows = list(range(len(grid.rows)))
    _add_side_trace(figure, grid, rows)
    _add_word_traces(figure, grid, rows)
    figure.update_yaxes(
        tickvals=rows,
        ticktext=[row.label for row in grid.rows],
        autorange="reversed",
        showgrid=False,
        zeroline=False,
        ticks="",
        row=1,
        col=1,
    )
    figure.update_yaxes(showgrid=False, zeroline=False, ticks="", showticklabels=False, row=1, col=2)
    figure.update_xaxes(
        tickvals=list(range(len(grid.side_columns))),
        ticktext=grid.side_columns,
        side="top",
        showgrid=False,
        zeroline=False,
        fixedrange=True,
        row=1,
        col=1,
    )
    figure.update_xaxes(visible=False, fixedrange=True, row=1, col=2)
    figure.update_yaxes(fixedrange=True)
    for row_index in segment_starts(grid)[1:]:
        figure.add_hline(y=row_index - 0.5, line=dict(color=SEPARATOR_GREY, width=1), row=1, col=2)
    figure.update_layout(
        width=width,
        height=height,
        margin=dict(l=50, r=10, t=40, b=10),
        plot_bgcolor="white",
        paper_bgcolor="white",
        showlegend=False,
        hoverlabel=dict(bgcolor="white", font_size=12),
    )
    return figure


def _add_side_trace(figure: go.Figure, grid: Grid, rows: list[int]) -> None:
    shades, texts, hovers = _side_matrices(grid)
    scale = (
        dict(colorscale=EVIDENCE_COLOURS, zmin=-1, zmax=1, zmid=0)
        if grid.signed
        else dict(colorscale=SENTENCE_ATTENTION_COLOURS, zmin=0, zmax=1)
    )
    figure.add_trace(
        go.Heatmap(
            z=shades,
            x=list(range(len(grid.side_columns))),
            y=rows,
            text=texts,
            texttemplate="%{text}",
            textfont=dict(size=10),
            customdata=hovers,
            hovertemplate="%{customdata}<extra></extra>",
            hoverongaps=False,
            showscale=False,
            xgap=2,
            ygap=2,
            **scale,
        ),
        row=1,
        col=1,
    )


def _add_word_traces(figure: go.Figure, grid: Grid, rows: list[int]) -> None:
    width, shaded, greyed, texts, hovers = _word_matrices(grid)
    columns = list(range(width))
    scale = (
        dict(colorscale=EVIDENCE_COLOURS, zmin=-1, zmax=1, zmid=0)
        if grid.signed
        else dict(colorscale=ATTENTION_COLOURS, zmin=0, zmax=1)
    )
    common = dict(
        x=columns,
        y=rows,
        customdata=hovers,
        hovertemplate="%{customdata}<extra></extra>",
        hoverongaps=False,
        showscale=False,
        xgap=2,
        ygap=2,
        texttemplate="%{text}",
    )
    # unread cells grey (1.0), read cells without a value white (0.0)
    figure.add_trace(
        go.Heatmap(
            z=greyed,
            text=_masked_text(texts, greyed),
            textfont=dict(size=11, color="#6e6e6e"),
            colorscale=[[0, "#ffffff"], [1, UNREAD_GREY]],
            zmin=0,
            zmax=1,
            **common,
        ),
        row=1,
        col=2,
    )
    figure.add_trace(
        go.Heatmap(z=shaded, text=_masked_text(texts, shaded), textfont=dict(size=11), **scale, **common),
        row=1,
        col=2,
    )


def _masked_text(texts: list[list[str]], values: list[list[float | None]]) -> list[list[str]]:
    """Text only where this trace draws a cell (so two traces never print over each other)."""
    return [
        [text if value is not None else "" for text, value in zip(text_row, value_row)]
        for text_row, value_row in zip(texts, values)
    ]
