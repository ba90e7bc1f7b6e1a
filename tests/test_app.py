"""The Streamlit app, driven headless with AppTest on a tiny checkpoint trained here (and once on a shipped
one)."""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import sys
from pathlib import Path

import pytest
import torch

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app import state  # noqa: E402
from app.components import heatmap, review  # noqa: E402
from app.components.attention import sentence_attention_table  # noqa: E402
from app.documents import parse_tags, precision_recall_f1, read_samples  # noqa: E402

APP_FILE = str(REPOSITORY_ROOT / "app" / "streamlit_app.py")
SHIPPED_CHECKPOINTS = REPOSITORY_ROOT / "checkpoints"
TIMEOUT = 30

# Four topics whose words also occur in sample_docs/, so the tiny model knows some of them.
TOPICS = {
    "bread": ["dough", "yeast", "flour", "loaf", "oven", "crumb", "proof", "starter", "knead", "rise"],
    "food-safety": [
        "fridge",
        "rice",
        "safe",
        "spores",
        "reheat",
        "cooked",
        "days",
        "container",
        "bacteria",
        "throw",
    ],
    "stock": ["bones", "simmer", "stock", "clear", "soup", "cloudy", "strain", "pot", "chicken", "skim"],
    "knives": ["knife", "sharpen", "whetstone", "steel", "blade", "hone", "edge", "grit", "chef", "cut"],
}
FILLER = ["the", "my", "is", "how", "why", "with", "and", "i", "to", "of", "a", "it"]


def tiny_rows(count: int = 160, seed: int = 7) -> list[dict[str, str]]:
    generator = random.Random(seed)
    names = sorted(TOPICS)
    rows = []
    for number in range(1, count + 1):
        topic = names[number % len(names)]
        words = TOPICS[topic]
        title = " ".join(generator.sample(words, 3) + generator.sample(FILLER, 2)).capitalize() + "?"
        sentences = [
            " ".join(generator.sample(words, 4) + generator.sample(FILLER, 3)).capitalize() + "."
            for _ in range(generator.randint(2, 4))
        ]
        tags = [topic] + (["equipment"] if topic == "knives" or generator.random() < 0.2 else [])
        rows.append(
            {
                "id": str(number),
                "title": title,
                "content": "<p>" + " ".join(sentences) + "</p>",
                "tags": " ".join(tags),
            }
        )
    return rows


def train_tiny_checkpoints(directory: Path) -> Path:
    """A `checkpoints` folder holding one tiny model trained through the library; returns the folder."""
    from jman_core.config import DataConfig, ExperimentConfig, ModelConfig, TextConfig, TrainingConfig
    from jman_core.data import read_documents
    from jman_core.experiment import train_documents

    data = directory / "tiny.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "title", "content", "tags"])
        writer.writeheader()
        writer.writerows(tiny_rows())
    config = ExperimentConfig(
        text=TextConfig(min_word_frequency=1),
        data=DataConfig(min_label_count=2),
        model=ModelConfig(hidden_size=8, embedding_dim=8),
        training=TrainingConfig(
            num_epochs=2,
            batch_size=32,
            embeddings="word2vec",
            word2vec_epochs=2,
            cache_dir=str(directory / "cache"),
            device="cpu",
        ),
    )
    checkpoints = directory / "checkpoints"
    result = train_documents(
        read_documents(data, config.data), config, checkpoints / "tiny", data_source=data.name
    )
    assert result.checkpoint is not None, "the tiny training run saved no checkpoint"
    return checkpoints


@pytest.fixture
def app(tiny_checkpoints, monkeypatch) -> AppTest:
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(tiny_checkpoints))
    return AppTest.from_file(APP_FILE, default_timeout=TIMEOUT).run()


def enter(app: AppTest, title: str, content: str, gold: str = "") -> AppTest:
    app.text_input(key=state.TITLE).input(title)
    app.text_area(key=state.CONTENT).input(content)
    app.text_input(key=state.GOLD_TAGS).input(gold)
    return app.button(key=state.PREDICT).click().run()


def suggested(app: AppTest) -> list[str]:
    table = app.get("dataframe")[0].value
    return list(table.loc[table["suggested"] == "✓", "tag"])


def messages(app: AppTest) -> str:
    return " ".join(
        str(element.value) for kind in ("error", "warning", "info") for element in getattr(app, kind)
    )


# ---- plain functions ----------------------------------------------------------------------------
def test_tags_are_parsed_and_scored_like_the_training_data():
    assert parse_tags("Food Safety, rice;  storage_lifetime") == ["food-safety", "rice", "storage-lifetime"]
    assert parse_tags("bread baking bread") == ["bread", "baking"]
    assert precision_recall_f1(["a", "b"], ["b", "c", "d"]) == pytest.approx((0.5, 1 / 3, 0.4))
    assert precision_recall_f1([], ["a"]) == (0.0, 0.0, 0.0)


def test_sample_documents_cover_the_required_kinds():
    samples = read_samples()
    assert len(samples) >= 8
    assert sum(sample.domain == "cooking" for sample in samples) >= 6
    assert any("<pre><code>" in sample.content for sample in samples)
    assert all(sample.title and sample.content and sample.tags for sample in samples)


def test_grid_wraps_long_rows_marks_unknown_and_unread(tiny_predictor):
    title = " ".join(["bread"] * 25 + ["zzzunknown"] * 5)  # 30 words
    sentence = " ".join(["dough"] * 34)  # beyond the 30-word limit
    content = " ".join(f"Sentence {number} has {sentence} words." for number in range(13))
    explanation = tiny_predictor.explain(title, content)
    grid = heatmap.attention_grid(explanation, "JMAN-s")
    assert all(len(row.cells) <= heatmap.WORDS_PER_ROW for row in grid.rows)
    labels = [row.label for row in grid.rows if row.label]
    assert labels == ["title"] + [f"s{number}" for number in range(1, 11)]
    unknown = [cell for row in grid.rows for cell in row.cells if not cell.known]
    assert unknown and heatmap.cell_text(unknown[0]).endswith("?</i>")
    assert any(not cell.read for row in grid.rows for cell in row.cells), "truncated words must be greyed"
    assert len(grid.unread_sentences) == 3
    figure = heatmap.heatmap_figure(grid)
    width, height, _, _ = heatmap.figure_size(grid)
    assert (figure.layout.width, figure.layout.height) == (width, height)
    assert height >= heatmap.CELL_HEIGHT * len(grid.rows)


def test_variation_without_sentence_attention_shows_what_exists(tiny_predictor):
    explanation = tiny_predictor.explain("Bread dough", "The loaf did not rise. The oven was hot.")
    partial = dataclasses.replace(explanation, original_sentence_attention=None, sentence_word_attention=None)
    grid = heatmap.attention_grid(partial, "JMAN-s+tg-only")
    assert any("original sentence attention" in message for message in grid.missing)
    assert any("sentence word attention" in message for message in grid.missing)
    first_sentence = next(row for row in grid.rows if row.label == "s1")
    assert first_sentence.side_values[0] is None and first_sentence.side_values[1] is not None
    assert sentence_attention_table(partial)["attention"].unique().tolist() == ["title-guided (tg)"]
    assert heatmap.heatmap_figure(grid).data, "the figure must still draw what exists"


def with_heads(tiny_predictor, heads: dict, **components):
    """The tiny model's trained network with extra score heads (fresh), as a Predictor; `components` can
    replace its SVM and blend."""
    from jman_core.model import build_model
    from jman_core.predict import Predictor

    metadata = tiny_predictor.metadata
    config = dataclasses.replace(metadata.model_config, heads=heads)
    model = build_model(config, labels=tiny_predictor.labels, pipeline=tiny_predictor.pipeline)
    model.load_state_dict(tiny_predictor.model.state_dict(), strict=False)  # the new heads stay fresh
    linear, blend = (
        components.get("linear", tiny_predictor.linear),
        components.get("blend", tiny_predictor.blend),
    )
    return Predictor(
        model,
        tiny_predictor.pipeline,
        dataclasses.replace(metadata, model_config=config),
        linear=linear,
        blend=blend,
    )


def test_a_label_attention_model_shows_where_each_tag_looked(tiny_predictor):
    predictor = with_heads(tiny_predictor, {"label_attention": {}})
    predictor.model.heads["label_attention"].queries.data *= 1000  # peaked, so its largest weight is darkest
    title, content = "Bread dough", "The loaf did not rise. The oven was hot."
    evidence = predictor.tag_evidence(title, content, predictor.labels[0])
    grid = heatmap.label_attention_grid(predictor.explain(title, content).document, evidence)
    shaded = [cell for row in grid.rows for cell in row.cells if cell.read]
    assert shaded and all(cell.shade is not None for cell in shaded)
    assert max(cell.shade for cell in shaded) == pytest.approx(1.0)  # scaled to the document's largest weight
    assert sum(cell.value for cell in shaded) == pytest.approx(
        1.0, abs=1e-5
    )  # one distribution over all words
    assert grid.side_columns == [] and heatmap.heatmap_figure(grid).data
    assert tiny_predictor.tag_evidence(title, content, predictor.labels[0]).title_word_attention is None


def test_a_tag_name_matching_model_says_what_the_name_added(tiny_predictor):
    from app.components.evidence import HEAD_NOTES, name_note

    predictor = with_heads(tiny_predictor, {"label_mentions": {}})
    head = predictor.model.heads["label_mentions"]
    head.name_word_ids.zero_()
    head.name_word_ids[0, 0] = tiny_predictor.pipeline.vocabulary["dough"]  # tag 0 is "named" by dough
    head.shared_weights.data = torch.tensor([1.5, 0.5])
    label = predictor.labels[0]
    named = predictor.tag_evidence("Bread dough", "The loaf did not rise.", label)
    assert named.heads["label_mentions"] == pytest.approx({"title": 1.5, "content": 0.0})
    assert "written in the title (+1.50)" in HEAD_NOTES["label_mentions"](
        label, named.heads["label_mentions"]
    )
    in_content = predictor.tag_evidence("Loaf", "The dough did not rise.", label)
    assert in_content.heads["label_mentions"] == pytest.approx({"title": 0.0, "content": 0.5})
    document = [("Bread dough", "The loaf did not rise.")]
    with_name = predictor.component_scores(document)["network"][0, 0]
    assert with_name == pytest.approx(
        tiny_predictor.component_scores(document)["network"][0, 0] + 1.5, abs=1e-4
    )
    assert "not among the words read" in name_note(label, {"title": 0.0, "content": 0.0})
    assert "label_mentions" not in tiny_predictor.tag_evidence("Bread dough", "The loaf.", label).heads


def test_a_blended_model_shows_each_components_share_and_the_svms_strongest_words(tiny_predictor):
    from app.components.evidence import components_note, components_table, linear_terms_table
    from jman_core.blend import Blend
    from jman_core.calibration import PlattCalibrator
    from jman_core.linear import WordPairSVM, counted_words

    vocabulary, size = tiny_predictor.pipeline.vocabulary, tiny_predictor.pipeline.vocabulary_size
    labels = len(tiny_predictor.labels)
    svm = WordPairSVM(dataclasses.replace(tiny_predictor.metadata.linear_config, content_words=0))
    svm.counted_words_ = counted_words(tiny_predictor.pipeline.id_to_word)
    svm.feature_keys_ = torch.tensor(
        sorted([vocabulary["flour"] * size + vocabulary["dough"], vocabulary["dough"] * size])
    )
    svm.idf_ = torch.ones(2)
    svm.label_features_ = torch.zeros(labels, 2, dtype=torch.long)
    svm.label_weights_ = torch.zeros(labels, 2)
    pair = int((svm.feature_keys_ == vocabulary["flour"] * size + vocabulary["dough"]).nonzero())
    svm.label_features_[0] = torch.tensor([pair, 1 - pair])
    svm.label_weights_[0] = torch.tensor(
        [2.0, -0.5]
    )  # tag 0: the pair "flour dough" for, the word "dough" against
    svm.bias_ = torch.zeros(labels)
    identity = {"network": PlattCalibrator(), "linear": PlattCalibrator()}
    predictor = with_heads(
        tiny_predictor, {}, linear=svm, blend=Blend(identity, {"network": 0.25, "linear": 0.75})
    )
    label = predictor.labels[0]
    evidence = predictor.tag_evidence("Flour dough", "The loaf did not rise.", label)
    linear = evidence.components["linear"]
    assert [text for text, _ in linear.terms] == ["flour dough", "dough"]  # largest effect first, decoded
    assert linear.terms[0][1] > 0 > linear.terms[1][1]
    network = evidence.components["network"]
    assert evidence.score == pytest.approx(network.share + linear.share, abs=1e-5)
    assert evidence.score == pytest.approx(0.25 * network.probability + 0.75 * linear.probability, abs=1e-5)
    assert "0.25 × the network's" in components_note(label, evidence)
    assert components_table(evidence)["blend weight"] == [0.25, 0.75]
    assert linear_terms_table(linear)["word or pair read"] == ["flour dough", "dough"]
    assert (
        predictor.tag_evidence("Star", "Nothing here.", label).components["linear"].terms == []
    )  # none read


# ---- the app ------------------------------------------------------------------------------------
def test_app_tags_a_sample_document_and_draws_the_heatmap(app):
    assert not app.exception
    app.selectbox(key=state.SAMPLE).set_value("cooked-rice-fridge").run()
    assert app.text_input(key=state.TITLE).value == "How long can cooked rice stay in the fridge?"
    app.button(key=state.PREDICT).click().run()
    assert not app.exception
    assert suggested(app), "the sample got no suggested tag at the tuned threshold"
    assert len(app.get("plotly_chart")) >= 2  # attention and evidence
    assert app.get("vega_lite_chart"), "the ori vs tg bar chart is missing"
    assert [metric.label for metric in app.metric] == ["Precision", "Recall", "F1"]


def test_threshold_and_top_k_repartition_without_running_the_model(app):
    enter(app, "How to sharpen a chef knife", "My knife blade is dull. Should I use a whetstone or a steel?")
    result = app.session_state[state.RESULT]
    before = suggested(app)
    app.slider(key=state.THRESHOLD).set_value(1.0).run()
    assert suggested(app) == [] and before != []
    app.slider(key=state.THRESHOLD).set_value(0.0).run()
    app.number_input(key=state.TOP_K).set_value(2).run()
    assert len(suggested(app)) == 2
    assert app.session_state[state.RESULT] is result, "moving the controls must not run the model again"


def test_visualisation_html_is_standalone(tiny_predictor):
    explanation = tiny_predictor.explain("Dull knife", "The blade will not cut tomatoes.")
    figure = heatmap.heatmap_figure(heatmap.attention_grid(explanation, "JMAN-s"))
    page = review.visualisation_html("Dull <knife>", [("knives", 0.8)], figure, "tiny")
    assert page.startswith("<!DOCTYPE html>") and "Dull &lt;knife&gt;" in page
    assert "<b>knives</b> 0.800" in page and "plotly" in page.lower()


BAD_INPUTS = {
    "empty title": ("", "My bread dough did not rise in the oven."),
    "empty content": ("Why is my loaf dense?", ""),
    "one word": ("bread", ""),
    "only punctuation": ("?!?!", "... ,,, ;;; !!!"),
    "maths": ("Solve x^2 + 3x - 4 = 0", "If a < b and b < c then a < c; ∫ x dx = x²/2 + C."),
    "code": ("Python loop", "<pre><code>for i in range(10):\n    print(i * 2)  # {}</code></pre>"),
    "non-Latin scripts": ("如何做面包", "Как испечь хлеб? パンの作り方。 كيف أخبز الخبز"),
    "one megabyte": ("Very long", "The dough rises slowly. " * 44_000),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_a_result_or_a_message_never_a_traceback(app, case):
    title, content = BAD_INPUTS[case]
    enter(app, title, content)
    assert not app.exception
    assert app.get("dataframe") or app.error, f"{case}: neither tags nor a message"
    if case == "empty title":
        assert "title is empty" in messages(app)
    if case == "one megabyte":
        assert "only the first 100,000" in messages(app) and "were not read" in " ".join(
            e.label for e in app.expander
        )


def test_empty_document_gives_a_clear_message(app):
    enter(app, "   ", "<p> </p>")
    assert not app.exception
    assert "Both the title and the content are empty" in app.error[0].value
    assert app.session_state[state.RESULT] is None


def test_no_checkpoint_explains_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(tmp_path))
    app = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT).run()
    assert not app.exception
    assert "No model found" in app.warning[0].value
    assert any("jman train" in markdown.value for markdown in app.markdown)


def test_corrupt_checkpoint_gives_a_message(tiny_checkpoints, tmp_path, monkeypatch):
    import shutil

    broken = tmp_path / "checkpoints" / "broken"
    shutil.copytree(tiny_checkpoints / "tiny", broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(broken.parent))
    app = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT).run()
    assert not app.exception
    assert "corrupt" in app.error[0].value


def test_shipped_checkpoint_tags_a_sample(monkeypatch):
    """The committed model under checkpoints/ (no override): the app lists it and tags a sample."""
    monkeypatch.delenv("JMAN_CHECKPOINTS_DIR", raising=False)
    assert (SHIPPED_CHECKPOINTS / "stackexchange-cooking" / "checkpoint.json").is_file(), (
        "the shipped model is missing"
    )
    app = AppTest.from_file(APP_FILE, default_timeout=60).run()
    assert not app.exception and not app.error
    assert app.selectbox(key=state.MODEL_FOLDER).value == str(SHIPPED_CHECKPOINTS / "stackexchange-cooking")
    app.selectbox(key=state.SAMPLE).set_value("sourdough-dense-loaf").run()
    app.button(key=state.PREDICT).click().run()
    assert not app.exception
    assert suggested(app) and app.get("plotly_chart")
    assert any(
        caption.value.startswith("JMAN-s + linear SVM (network 0.") for caption in app.sidebar.caption
    )  # the blend is named, with the network's share


def test_model_picker_lists_every_checkpoint_with_its_card(tiny_checkpoints, tmp_path, monkeypatch):
    import shutil

    for name in ("alpha", "beta"):
        shutil.copytree(tiny_checkpoints / "tiny", tmp_path / name)
    (tmp_path / "not-a-model").mkdir()
    shutil.copytree(tiny_checkpoints / "tiny", tmp_path / ".gamma.building-1234")  # half-written: not listed
    monkeypatch.setenv("JMAN_CHECKPOINTS_DIR", str(tmp_path))
    app = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT).run()
    picker = app.selectbox(key=state.MODEL_FOLDER)
    assert [Path(option).name for option in picker.options] == ["alpha", "beta"]
    card = " ".join(markdown.value for markdown in app.sidebar.markdown)
    assert "Labels:" in card and "Decision threshold" in card
    tuned = json.loads((tmp_path / "alpha" / "checkpoint.json").read_text(encoding="utf-8"))["threshold"]
    assert app.slider(key=state.THRESHOLD).value == pytest.approx(tuned), (
        "the slider starts at the tuned threshold"
    )
    picker.set_value(str(tmp_path / "beta")).run()
    assert not app.exception and app.session_state[state.RESULT] is None


def test_the_model_is_loaded_once_and_again_when_replaced(tiny_checkpoints):
    from app.models import load_predictor

    folder = str(tiny_checkpoints / "tiny")
    first = load_predictor(folder, 1.0)
    assert load_predictor(folder, 1.0) is first, "the same checkpoint must be shared, not reloaded"
    assert load_predictor(folder, 2.0) is not first, "a replaced checkpoint (new mtime) must be reloaded"


def test_the_attention_says_how_much_of_the_scores_it_explains():
    from app.components.attention import network_share_note

    assert "carries 35% of this model's scores" in network_share_note(0.35)
    assert "does not explain" not in network_share_note(0.35)
    assert "**This attention does not explain the suggestions**" in network_share_note(0.03)
    assert "all of this model's scores" in network_share_note(1.0)


def test_the_model_card_says_when_the_attention_does_not_explain_the_suggestions(tiny_predictor):
    from jman_core.checkpoint import blend_lines

    metadata = tiny_predictor.metadata
    weak = dataclasses.replace(
        metadata,
        blend={
            "weights": {"network": 0.02, "linear": 0.98},
            "calibrators": {
                name: {"method": "platt", "slope": 1.0, "intercept": 0.0} for name in ("network", "linear")
            },
        },
    )
    assert any("do not explain the suggestions" in line for line in blend_lines(weak))
    strong = dataclasses.replace(weak, blend={**weak.blend, "weights": {"network": 0.4, "linear": 0.6}})
    assert not any("do not explain" in line for line in blend_lines(strong))
    assert any("carries 40% of the scores" in line for line in blend_lines(strong))
