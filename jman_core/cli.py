"""Command line: jman train | evaluate | predict | info. Thin: parse, call the library, print."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from .config import BASELINE_NETWORKS, VARIATIONS, ExperimentConfig, build_config, load_config_file, to_dict
from .errors import JmanError

DESCRIPTION = """\
JMAN suggests social tags for documents that have a title and a content (an abstract, a question
body), and shows which words and sentences it paid attention to.

Typical use:
  jman train --data questions.csv --output checkpoints/my-model     train on your tagged documents
  jman info checkpoints/my-model                                   what a model is and how good it is
  jman predict checkpoints/my-model --title "..." --content "..."  suggest tags (JSON out)
  jman evaluate checkpoints/my-model --data questions.csv          the paper's metrics on the test part
  jman baseline tfidf-lr --data questions.csv                      a non-neural baseline, same split and metrics
  jman serve --checkpoints checkpoints                             the REST API on 127.0.0.1:8000 (docs at /docs)
Run `jman COMMAND --help` for each command's options."""

# Flag name -> (config section, type, help). Defaults come from jman_core.config, shown in --help.
TRAIN_FLAGS: dict[str, tuple[str, Any, str]] = {
    "variations": ("model.variation", str, "which JMAN variation to train: " + ", ".join(VARIATIONS)
                   + "; or a baseline network: " + ", ".join(BASELINE_NETWORKS)),
    "embedding_dim": ("model.embedding_dim", int, "word embedding size"),
    "hidden_size": ("model.hidden_size", int, "GRU hidden units per direction"),
    "dropout": ("model.dropout", float, "dropout before the output layer"),
    "embedding_dropout": ("model.embedding_dropout", float, "dropout on the word vectors (not in the paper)"),
    "linear_content_words": ("model.linear_content_words", int,
                             "with --linear_part: content words the SVM reads (0: only what the network reads)"),
    "lambda_sim": ("training.lambda_sim", float, "weight of the similarity regulariser L_sim (None: 1e-3 for JMAN, 0 for JMAN-s...)"),
    "lambda_sub": ("training.lambda_sub", float, "weight of the subsumption regulariser L_sub (None: 1e-2 for JMAN, 0 for JMAN-s...)"),
    "similarity_threshold": ("training.similarity_threshold", float, "label similarities below this count as 0"),
    "similarity_file": ("training.similarity_file", str, "CSV of label,label,similarity rows for Sim ('' learns Sim from the tags)"),
    "knowledge_base": ("training.knowledge_base", str, "CSV of hyponym,hypernym[,true|false] pairs for Sub ('' infers Sub from the tags)"),
    "learning_rate": ("training.learning_rate", float, "Adam's initial learning rate"),
    "batch_size": ("training.batch_size", int, "documents per step"),
    "num_epochs": ("training.num_epochs", int, "at most this many epochs"),
    "l2": ("training.l2", float, "L2 penalty on weight matrices (with adamw: their decay rate)"),
    "optimizer": ("training.optimizer", str, "'adam' (the paper's, L2 added to the gradient) or 'adamw' (decoupled weight decay)"),
    "early_stop_lr": ("training.early_stop_lr", float, "stop once the halved learning rate falls below this"),
    "seed": ("training.seed", int, "random seed (splits, initialisation, batches)"),
    "device": ("training.device", str, "auto, cpu or cuda (bf16 mixed precision on cuda)"),
    "selection_metric": ("training.selection_metric", str, "pick the best epoch by validation 'f1' or 'loss'"),
    "embeddings": ("training.embeddings", str, "'word2vec' (trained on your data), 'random', or a word2vec file"),
    "output_bias_init": ("training.output_bias_init", str, "'prior' (each label's log odds) or 'zero' (the original code's) initial output bias"),
    "cache_dir": ("training.cache_dir", str, "where trained word2vec vectors are cached ('' means ~/.cache/jman)"),
    "split": ("data.split", str, "'random' (seeded fractions) or 'canonical' (Stack Exchange ids: test id%%10==0, validation id%%10==1)"),
    "test_fraction": ("data.test_fraction", float, "share of documents held out for testing (random split)"),
    "validation_fraction": ("data.validation_fraction", float, "share of documents for validation (random split)"),
    "kfold": ("data.kfold", int, "k-fold cross-validation over the non-test part; -1 for one split"),
    "min_label_count": ("data.min_label_count", int, "keep tags used at least this many times in training"),
    "title_column": ("data.title_column", str, "column holding the title"),
    "content_column": ("data.content_column", str, "column holding the content (abstract/body also accepted)"),
    "tags_column": ("data.tags_column", str, "column holding the tags"),
    "id_column": ("data.id_column", str, "column holding the document id"),
    "tag_separator": ("data.tag_separator", str, "separator of tags in CSV/TSV (' ' splits on any whitespace)"),
    "max_title_tokens": ("text.max_title_tokens", int, "title words read"),
    "max_sentences": ("text.max_sentences", int, "content sentences read"),
    "max_sentence_tokens": ("text.max_sentence_tokens", int, "words read per sentence"),
    "min_word_frequency": ("text.min_word_frequency", int, "words seen fewer times become <unk>"),
    "max_vocabulary_size": ("text.max_vocabulary_size", int, "keep at most this many words"),
    "chunk_tokens": ("text.chunk_tokens", int, "cut text without sentence punctuation into chunks of this many words (0: max_sentence_tokens)"),
    "word2vec_epochs": ("training.word2vec_epochs", int, "passes of word2vec over the training documents"),
}

# On/off switches given as bare flags: flag -> (config section, help).
TRAIN_SWITCHES: dict[str, tuple[str, str]] = {
    "dynamic_sem": ("training", "JMANd: learn Sim and Sub during training (memory grows with labels squared)"),
    "dynamic_sem_l2": ("training", "L2-normalise the rows of the learnable Sim and Sub"),
    "freeze_embeddings": ("training", "keep the initial word vectors fixed (fewer trained parameters on small datasets)"),
    "lexical_path": ("model", "add a bag-of-words path from the words read to the tag scores (not in the paper)"),
    "label_attention": ("model", "JMAN only: give each tag its own attention over the words read (not in the paper)"),
    "label_mentions": ("model", "add a learned score for each tag whose name is written in the title or content (not in the paper)"),
    "linear_part": ("model", "after training, fit a linear SVM over the words and word pairs read and blend it with "
                    "the network, the weight tuned on validation (wide and deep; not in the paper)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: no traceback, a pointer to --help
        self.exit(2, f"{self.prog}: error: {message}\nRun `{self.prog} --help` for the options.\n")


def _add_train(commands) -> None:
    parser = commands.add_parser("train", help="train a model on tagged documents and save a checkpoint",
                                 description="Train JMAN on a CSV, TSV, JSONL, zip or JMAN-text file of tagged documents.")
    parser.add_argument("--data", required=True, help="dataset file (columns title, content, tags by default)")
    parser.add_argument("--output", help="checkpoint folder to write (default: checkpoints/<data name>-<variation>)")
    parser.add_argument("--config", help="JSON or YAML file with sections text, data, model, training (flags win)")
    parser.add_argument("--log", help="append one JSON line per epoch to this file")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run of the same --output")
    _add_training_flags(parser)


def _add_training_flags(parser) -> None:
    """The training switches and flags (with their defaults), shared by `train` and `workspace train`."""
    parser.add_argument("--keep_tags_as_is", action="store_true", help="do not normalise tags (case, spaces, hyphens)")
    for switch, (_, text) in TRAIN_SWITCHES.items():
        parser.add_argument(f"--{switch}", action="store_true", help=text)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    defaults = to_dict(ExperimentConfig())
    for name, (path, kind, text) in TRAIN_FLAGS.items():
        section, key = path.split(".")
        default = defaults[section][key]
        shown = repr(default) if isinstance(default, str) else default
        parser.add_argument(f"--{name}", type=kind, metavar=kind.__name__.upper(), help=f"{text} (default: {shown})")


def _add_baseline(commands) -> None:
    from .baselines import BASELINES

    parser = commands.add_parser(
        "baseline", help="train and evaluate a non-neural baseline (TF-IDF+LR, SVM, LDA) on the same split",
        description="Train and evaluate one of the paper's non-neural baselines on the same split, labels and "
                    "metrics as `jman train` (the neural baselines are `jman train --variations HAN|BiGRU`).")
    parser.add_argument("model", choices=list(BASELINES), help="which baseline")
    parser.add_argument("--data", required=True, help="dataset file (columns title, content, tags by default)")
    parser.add_argument("--config", help="JSON or YAML file with a data section (flags win)")
    parser.add_argument("--keep_tags_as_is", action="store_true", help="do not normalise tags")
    defaults = to_dict(ExperimentConfig())
    for name, (path, kind, text) in TRAIN_FLAGS.items():
        section, key = path.split(".")
        if section == "data" or name == "seed":
            parser.add_argument(f"--{name}", type=kind, metavar=kind.__name__.upper(),
                                help=f"{text} (default: {defaults[section][key]!r})")


def command_baseline(arguments: argparse.Namespace) -> int:
    from .baselines import run_baseline
    from .data import read_documents

    file_values = load_config_file(arguments.config) if arguments.config else {}
    flags = {name: getattr(arguments, name, None) for name in TRAIN_FLAGS}
    config = build_config(file_values, _flag_values(argparse.Namespace(**flags, keep_tags_as_is=arguments.keep_tags_as_is,
                                                                       **dict.fromkeys(TRAIN_SWITCHES, False))))
    documents = read_documents(arguments.data, config.data)
    result = run_baseline(arguments.model, documents, config)
    stats = result.statistics
    print(f"{arguments.model}: {stats['train']:,} training, {stats['validation']:,} validation, {stats['test']:,} test "
          f"documents; {stats['labels']} labels; trained in {result.training_seconds:.1f}s; threshold {result.threshold:.2f}")
    _print_metrics_table(result.metrics)
    return 0


def _add_checkpoint_commands(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="the paper's metrics of a checkpoint on a dataset",
                                   description="Evaluate a checkpoint; prints a row like the paper's Table II.")
    evaluate.add_argument("checkpoint", help="checkpoint folder")
    evaluate.add_argument("--data", required=True, help="dataset file with tags")
    evaluate.add_argument("--part", choices=("test", "validation", "all"), default="test",
                          help="which part: the checkpoint's own split of this data, or every document")
    evaluate.add_argument("--threshold", type=float, help="decision threshold (default: the tuned one)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict = commands.add_parser("predict", help="suggest tags for a document or a file (JSON out)",
                                  description="Suggest tags. Give --title/--content, or --input with a file of documents.")
    predict.add_argument("checkpoint", help="checkpoint folder")
    predict.add_argument("--title", default="", help="the document's title")
    predict.add_argument("--content", default="", help="the document's content (HTML accepted)")
    predict.add_argument("--input", help="CSV, TSV, JSONL or JMAN-text file of documents (tags optional)")
    predict.add_argument("--threshold", type=float, help="decision threshold (default: the tuned one)")
    predict.add_argument("--top_k", type=int, help="at most this many selected tags")
    predict.add_argument("--explain", action="store_true", help="include tokens and all attention weights")
    linear = commands.add_parser(
        "add-linear-part", help="blend a trained checkpoint with a word-and-pair SVM, without retraining it",
        description="Fit the linear part of `jman train --linear_part` onto a trained checkpoint: a linear SVM per "
                    "tag over the words and word pairs read, blended with the network (weight and threshold tuned "
                    "on validation). Needs the data file the model was trained on, to rebuild its split.")
    linear.add_argument("checkpoint", help="checkpoint folder")
    linear.add_argument("--data", required=True, help="the dataset file the checkpoint was trained on")
    linear.add_argument("--output", help="where to save the blended model (default: replace the checkpoint, atomically)")
    linear.add_argument("--content_words", type=int, metavar="INT",
                        help="content words the SVM reads (0: only what the network reads; default: 1000)")
    domain = commands.add_parser(
        "add-domain-check", help="store what the training documents look like, to flag documents unlike them",
        description="Measure a trained checkpoint's training documents (TF-IDF of a sample of them) and tune a "
                    "threshold on validation, so that the Predictor and the app warn about a document unlike them. "
                    "Needs the data file the model was trained on, to rebuild its split; the weights are kept.")
    domain.add_argument("checkpoint", help="checkpoint folder")
    domain.add_argument("--data", required=True, help="the dataset file the checkpoint was trained on")
    domain.add_argument("--output", help="where to save the model (default: replace the checkpoint, atomically)")
    info = commands.add_parser("info", help="show a checkpoint's model card",
                               description="Show what a checkpoint is: data, labels, metrics, settings.")
    info.add_argument("checkpoint", help="checkpoint folder")
    info.add_argument("--json", action="store_true", help="print the full metadata as JSON")


def _add_workspace(commands) -> None:
    workspace = commands.add_parser(
        "workspace", help="the curation workspace: list, import, export, train on reviewed documents",
        description="The curators' workspace database (SQLite under runs/ by default, $JMAN_DATABASE_URL or "
                    "--database for another file or PostgreSQL), shared with the app.")
    actions = workspace.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    listing = actions.add_parser("list", help="every collection with its documents and reviews")
    importing = actions.add_parser("import", help="a file of documents becomes a collection (ids kept)")
    importing.add_argument("file", help="CSV, TSV, JSONL, JMAN-text or zip file of documents (tags optional)")
    importing.add_argument("--name", help="the collection's name (default: the file's name)")
    importing.add_argument("--model", help="checkpoint folder whose suggestions are stored for every document")
    exporting = actions.add_parser("export", help="a collection as JSONL or CSV (the CSV trains as it is)")
    exporting.add_argument("collection", help="the collection's name or id")
    exporting.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    exporting.add_argument("--output", help="file to write (default: standard output)")
    exporting.add_argument("--curator", help="only this curator's reviews (default: every curator's)")
    exporting.add_argument("--threshold", type=float, help="threshold of the exported suggestions (default: the model's)")
    training = actions.add_parser(
        "train", help="train a model on a collection's reviewed documents, compared on a held-out share",
        description="Trains on the final tags of the reviewed documents (after --base_data's documents if given), "
                    "holding out a share of them, then compares the new model and --compare on that share.")
    training.add_argument("collection", help="the collection's name or id")
    training.add_argument("--output", required=True, help="checkpoint folder to write")
    training.add_argument("--curator", help="only this curator's reviews (default: the latest review of each document)")
    training.add_argument("--holdout", type=float, default=0.2, help="share of reviewed documents held out (default: 0.2)")
    training.add_argument("--base_data", help="the model's own training file, added to the reviewed documents")
    training.add_argument("--compare", help="checkpoint folder to compare with on the held-out documents")
    training.add_argument("--config", help="JSON or YAML file with sections text, data, model, training (flags win)")
    _add_training_flags(training)
    for parser in (listing, importing, exporting, training):
        parser.add_argument("--database", help="database URL (default: $JMAN_DATABASE_URL, else runs/workspace.sqlite)")


def _add_serve(commands) -> None:
    serve = commands.add_parser(
        "serve", help="the REST API over a folder of checkpoints (OpenAPI docs at /docs)",
        description="Serve every checkpoint folder under --checkpoints over HTTP (suggest, suggest-batch, explain, "
                    "feedback into the workspace); a folder added or replaced there is served without a restart. "
                    "Set JMAN_API_KEYS to require a key, JMAN_CORS_ORIGINS to let browser pages call it.")
    serve.add_argument("--checkpoints", default="checkpoints", help="folder of checkpoint folders (default: checkpoints)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--workers", type=int, default=1,
                       help="processes; over 1 runs gunicorn with uvicorn workers, each loading models once (default: 1)")
    serve.add_argument("--database", help="workspace database URL for feedback (default: $JMAN_DATABASE_URL, "
                                          "else runs/workspace.sqlite)")


def command_serve(arguments: argparse.Namespace) -> int:
    from .service import serve

    return serve(arguments.checkpoints, arguments.host, arguments.port, arguments.workers, arguments.database)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jman", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(commands)
    _add_baseline(commands)
    _add_checkpoint_commands(commands)
    _add_workspace(commands)
    _add_serve(commands)
    return parser


def _flag_values(arguments: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (path, _, _) in TRAIN_FLAGS.items():
        value = getattr(arguments, name)
        if value is not None:
            section, key = path.split(".")
            values.setdefault(section, {})[key] = value
    if arguments.keep_tags_as_is:
        values.setdefault("data", {})["normalise_tags"] = False
    for flag, (section, _) in TRAIN_SWITCHES.items():
        if getattr(arguments, flag):
            values.setdefault(section, {})[flag] = True
    return values


class _ProgressPrinter:
    """A tqdm bar per epoch and one summary line per epoch, on stderr."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def on_progress(self, progress) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=progress.steps, desc=f"epoch {progress.epoch}", unit="batch", leave=False, file=sys.stderr)
        self.bar.update(progress.step - self.bar.n)
        self.bar.set_postfix(loss=f"{progress.loss:.3f}", lr=f"{progress.learning_rate:.2g}")

    def on_stage(self, text: str) -> None:
        print(f"{text[0].upper()}{text[1:]}.", file=sys.stderr)

    def on_epoch_end(self, record) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        marker = " *best*" if record.best else ""
        print(f"epoch {record.epoch}: train loss {record.train_loss:.4f}, validation loss {record.validation_loss:.4f}, "
              f"validation F1 {record.validation_f1:.3f} at threshold {record.threshold:.2f}, "
              f"{record.seconds:.0f}s ({record.documents_per_second:.0f} docs/s){marker}", file=sys.stderr)


def _linear_part_line(statistics: dict) -> str:
    weight = statistics["linear_part_network_weight"]
    return (f"Linear part: {statistics['linear_part_features']:,} words and word pairs; scores blend {weight:.2f} "
            f"network + {1 - weight:.2f} SVM (tuned on validation, F1 {statistics['linear_part_validation_f1']:.3f}).")


def _print_metrics_table(rows: dict[str, dict[str, float]]) -> None:
    names = ["H", "A", "P", "R", "F1", "P@1", "P@3", "nDCG@3", "nDCG@5", "Micro-F1", "Macro-F1"]
    print("| part | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for part, metrics in rows.items():
        print(f"| {part} | " + " | ".join(f"{100 * metrics[name]:.1f}" if name in metrics else "-" for name in names) + " |")


def command_train(arguments: argparse.Namespace) -> int:
    from .data import data_note, read_documents
    from .experiment import train_documents
    from .training import Callbacks

    file_values = load_config_file(arguments.config) if arguments.config else {}
    config = build_config(file_values, _flag_values(arguments))
    output = Path(arguments.output or f"checkpoints/{Path(arguments.data).name.split('.')[0]}-{config.model.variation}")
    documents = read_documents(arguments.data, config.data)
    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun only the first process reports
    printer = _ProgressPrinter(arguments.quiet or not main_process)
    callbacks = Callbacks(on_progress=printer.on_progress, on_epoch_end=printer.on_epoch_end if main_process else None,
                          on_stage=printer.on_stage if main_process else None)
    if main_process:
        print(f"Read {len(documents):,} documents from {arguments.data}.", file=sys.stderr)
    folds = range(config.data.kfold) if config.data.kfold > 1 else [config.data.fold]
    results = []
    for fold in folds:
        fold_config = replace(config, data=replace(config.data, fold=fold))
        if config.data.kfold > 1:
            print(f"Fold {fold + 1} of {config.data.kfold}", file=sys.stderr)
        fold_output = output if len(folds) == 1 else output.parent / f"{output.name}-fold{fold}"
        results.append(train_documents(documents, fold_config, fold_output, callbacks, Path(arguments.data).name,
                                       arguments.log, arguments.resume, note=data_note(arguments.data)))
    if main_process:
        _report_training(results, output)
    return 0


def _report_training(results, output: Path) -> None:
    from .metrics import format_mean_std, mean_and_std

    last = results[-1]
    print(f"Stopped: {last.stopped_because}.", file=sys.stderr)
    stats = last.statistics
    print(f"{stats['train']:,} training, {stats['validation']:,} validation, {stats['test']:,} test documents; "
          f"{stats['labels']} labels; {stats['dropped_without_label']} documents dropped for having no kept label.")
    for result in results:
        if result.checkpoint:
            print(f"Saved {result.checkpoint} (threshold {result.threshold:.2f}).")
    if "linear_part_network_weight" in stats:
        print(_linear_part_line(stats))
    rows = {name: metrics for name, metrics in last.metrics.items()}
    _print_metrics_table(rows)
    if len(results) > 1 and all("test" in result.metrics for result in results):
        summary = mean_and_std([result.metrics["test"] for result in results])
        print("Test, mean ± std over folds: " + ", ".join(
            f"{name} {format_mean_std(*summary[name])}" for name in ("H", "A", "P", "R", "F1", "P@1", "nDCG@3") if name in summary))


def command_evaluate(arguments: argparse.Namespace) -> int:
    from .evaluation import evaluate_checkpoint

    report = evaluate_checkpoint(arguments.checkpoint, arguments.data, arguments.part, arguments.threshold)
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['documents']:,} documents ({arguments.part}), {report['dropped']} dropped for having no known label; "
          f"threshold {report['threshold']:.2f}")
    _print_metrics_table({f"at {report['threshold']:.2f}": report["metrics"], "at 0.50": report["metrics_at_0.5"]})
    return 0


def command_predict(arguments: argparse.Namespace) -> int:
    from .data import read_documents
    from .predict import Predictor

    predictor = Predictor.from_checkpoint(arguments.checkpoint)
    if arguments.input:
        documents = [{"id": document.id, "title": document.title, "content": document.content,
                      "where": f"{arguments.input}, line {document.line}"}
                     for document in read_documents(arguments.input, require_tags=False)]
    else:
        documents = [{"id": "", "title": arguments.title, "content": arguments.content, "where": "the document"}]
    failed = sum(not _predict_one(predictor, document, arguments) for document in documents)
    if failed and arguments.input:
        print(f"error: {failed} of {len(documents)} documents were not tagged (named above); the others were.",
              file=sys.stderr)
    return 1 if failed else 0


def _predict_one(predictor, document: dict[str, str], arguments: argparse.Namespace) -> bool:
    """Prints one document's JSON line, or names its line in the --input file on stderr when it cannot be
    read (the others go on); True if printed."""
    from .errors import DocumentError
    from .evaluation import explanation_to_dict, prediction_to_dict

    try:
        if arguments.explain:
            record = explanation_to_dict(predictor.explain(document["title"], document["content"],
                                                           arguments.threshold, arguments.top_k))
        else:
            record = prediction_to_dict(predictor.predict(document["title"], document["content"],
                                                          arguments.threshold, arguments.top_k))
    except DocumentError as error:
        if not arguments.input:
            raise  # one document: main prints it and returns 2
        print(f"error: {document['where']}: {error}", file=sys.stderr)
        return False
    print(json.dumps({"id": document["id"], **record}, ensure_ascii=False))
    return True


def command_info(arguments: argparse.Namespace) -> int:
    from .checkpoint import model_card, read_metadata

    metadata = read_metadata(arguments.checkpoint)
    if arguments.json:
        print(json.dumps(metadata.to_json(), indent=2, ensure_ascii=False))
    else:
        print(model_card(metadata), end="")
    return 0


def command_add_linear_part(arguments: argparse.Namespace) -> int:
    from .experiment import add_linear_part

    result = add_linear_part(arguments.checkpoint, arguments.data, arguments.output, arguments.content_words)
    print(f"Saved {result.checkpoint} (threshold {result.threshold:.2f}).")
    print(_linear_part_line(result.statistics))
    _print_metrics_table(result.metrics)
    return 0


def command_add_domain_check(arguments: argparse.Namespace) -> int:
    from .experiment import add_domain_check

    summary = add_domain_check(arguments.checkpoint, arguments.data, arguments.output).summary()
    print(f"Saved {arguments.output or arguments.checkpoint}: {summary['stored_documents']:,} training documents stored; "
          f"a document is flagged below similarity {1 - summary['threshold']:.2f} "
          f"({summary['validation_warned']:.1%} of validation documents are).")
    return 0


def _open_workspace(arguments: argparse.Namespace):
    from .workspace import Workspace

    return Workspace.open(arguments.database)


def _collection(workspace, name_or_id: str):
    from .workspace import WorkspaceError

    found = workspace.find_collection(name_or_id)
    if found is None and name_or_id.isdigit():
        found = next((info for info in workspace.collections() if info.id == int(name_or_id)), None)
    if found is None:
        names = ", ".join(repr(info.name) for info in workspace.collections()[:10]) or "none"
        raise WorkspaceError(f"No collection {name_or_id!r} in the workspace (collections: {names}).")
    return found


def workspace_list(arguments: argparse.Namespace) -> int:
    workspace = _open_workspace(arguments)
    print("| id | collection | documents | reviewed | curators |")
    print("|---|---|---|---|---|")
    for info in workspace.collections():
        reviews = workspace.reviews(info.id, None)
        reviewed = len({document_id for (document_id, _), review in reviews.items() if review.status == "reviewed"})
        print(f"| {info.id} | {info.name} | {info.documents} | {reviewed} | {', '.join(workspace.curators(info.id))} |")
    return 0


def workspace_import(arguments: argparse.Namespace) -> int:
    from .data import read_file_bytes
    from .workspace.scoring import import_file, register_predictor, score_collection

    workspace = _open_workspace(arguments)
    collection = import_file(workspace, Path(arguments.file).name, read_file_bytes(arguments.file), arguments.name)
    print(f"Collection {collection.name!r} (id {collection.id}): {collection.documents} documents.")
    if arguments.model:
        from .predict import Predictor

        predictor = Predictor.from_checkpoint(arguments.model)
        model = register_predictor(workspace, predictor, arguments.model, Path(arguments.model).name)
        skipped = score_collection(workspace, collection.id, predictor, model)
        print(f"Scored by {model.name} ({model.fingerprint}); {len(skipped)} document(s) could not be scored.")
        for message in skipped:
            print(f"  {message}", file=sys.stderr)
    return 0


def workspace_export(arguments: argparse.Namespace) -> int:
    from .workspace.exports import export_records, to_csv, to_jsonl

    workspace = _open_workspace(arguments)
    collection = _collection(workspace, arguments.collection)
    records = export_records(workspace, collection.id, threshold=arguments.threshold, curator=arguments.curator)
    text = (to_csv if arguments.format == "csv" else to_jsonl)(records)
    if arguments.output:
        from .jobs import write_text_atomic

        write_text_atomic(Path(arguments.output), text)
        print(f"Wrote {len(records)} record(s) to {arguments.output}.", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def workspace_train(arguments: argparse.Namespace) -> int:
    from .data import read_documents_from_bytes, read_file_bytes
    from .experiment import train_documents
    from .training import Callbacks
    from .workspace.learning import compare_models, reviewed_documents, split_reviewed, training_file

    workspace = _open_workspace(arguments)
    collection = _collection(workspace, arguments.collection)
    reviewed = split_reviewed(reviewed_documents(workspace, collection.id, arguments.curator), arguments.holdout)
    base = (Path(arguments.base_data).name, read_file_bytes(arguments.base_data)) if arguments.base_data else (None, None)
    config = build_config(load_config_file(arguments.config) if arguments.config else {}, _flag_values(arguments))
    documents = read_documents_from_bytes("reviewed.csv", training_file(reviewed.training, *base), config.data)
    print(f"Training on {len(reviewed.training)} reviewed document(s)" + (f" and {len(documents) - len(reviewed.training)} "
          f"from {arguments.base_data}" if arguments.base_data else "") + f"; {len(reviewed.held_out)} held out.",
          file=sys.stderr)
    printer = _ProgressPrinter(arguments.quiet)
    result = train_documents(documents, config, Path(arguments.output),
                             Callbacks(on_progress=printer.on_progress, on_epoch_end=printer.on_epoch_end,
                                       on_stage=printer.on_stage), "reviewed.csv")
    _report_training([result], Path(arguments.output))
    if reviewed.held_out and result.checkpoint:
        _print_comparison(arguments, result.checkpoint, reviewed.held_out, compare_models)
    return 0


def _print_comparison(arguments: argparse.Namespace, checkpoint, held_out, compare_models) -> None:
    from .predict import Predictor

    predictors = {"new model": Predictor.from_checkpoint(checkpoint)}
    if arguments.compare:
        predictors = {Path(arguments.compare).name: Predictor.from_checkpoint(arguments.compare), **predictors}
    print(f"On the {len(held_out)} held-out reviewed document(s):")
    _print_metrics_table(compare_models(predictors, held_out))


WORKSPACE_ACTIONS = {"list": workspace_list, "import": workspace_import, "export": workspace_export,
                     "train": workspace_train}

COMMANDS = {"train": command_train, "baseline": command_baseline, "evaluate": command_evaluate,
            "predict": command_predict, "info": command_info, "add-linear-part": command_add_linear_part,
            "add-domain-check": command_add_domain_check,
            "workspace": lambda arguments: WORKSPACE_ACTIONS[arguments.action](arguments), "serve": command_serve}


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    arguments = parser.parse_args(argv)
    if not arguments.command:
        parser.print_help()
        return 0
    try:
        return COMMANDS[arguments.command](arguments)
    except JmanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
