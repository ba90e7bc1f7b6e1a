"""Command line: jman train | baseline | evaluate | predict | info | recalibrate | workspace | serve. Thin."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import options
from .config import CALIBRATIONS, build_config, load_config_file
from .errors import JmanError

DESCRIPTION = """\
JMAN suggests social tags for documents that have a title and a content (an abstract, a question
body), and shows which words and sentences it paid attention to. Training also fits the project's
linear SVM baseline on the same split, reports the new model beside it, and blends the two.

Typical use:
  jman train --data questions.csv --output checkpoints/my-model     train on your tagged documents
  jman info checkpoints/my-model                                   what a model is and how good it is
  jman predict checkpoints/my-model --title "..." --content "..."  suggest tags (JSON out)
  jman evaluate checkpoints/my-model --data questions.csv          the paper's metrics on the test part
  jman baseline tfidf-lr --data questions.csv                      a non-neural baseline, same split
  jman recalibrate checkpoints/my-model --data questions.csv       refit the SVM, calibration and blend
  jman serve --checkpoints checkpoints                             the REST API on 127.0.0.1:8000
Run `jman COMMAND --help` for each command's options."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: no traceback, a pointer to --help
        self.exit(2, f"{self.prog}: error: {message}\nRun `{self.prog} --help` for the options.\n")


def _add_train(commands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model on tagged documents and save a checkpoint",
        description="Train JMAN on a CSV, TSV, JSONL, zip or JMAN-text file of tagged documents.",
    )
    parser.add_argument(
        "--data", required=True, help="dataset file (columns title, content, tags by default)"
    )
    parser.add_argument(
        "--output", help="checkpoint folder to write (default: checkpoints/<data name>-<variation>)"
    )
    parser.add_argument(
        "--config", help="JSON or YAML file with sections text, data, model, training, linear (flags win)"
    )
    parser.add_argument("--log", help="append one JSON line per epoch to this file")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run of the same --output"
    )
    _add_training_flags(parser)


def _add_training_flags(parser) -> None:
    """Every declared option as a flag (with its default and help; jman_core.options), shared by `train` and
    `workspace train`."""
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    options.add_flags(parser)


def _add_baseline(commands) -> None:
    from .baselines import BASELINES

    parser = commands.add_parser(
        "baseline",
        help="train and evaluate a non-neural baseline (TF-IDF+LR, SVM, LDA) on the same split",
        description="Train and evaluate one of the paper's non-neural baselines on the same split, labels "
        "and metrics as `jman train` (the neural baselines are `jman train --variations HAN|BiGRU`).",
    )
    parser.add_argument("model", choices=list(BASELINES), help="which baseline")
    parser.add_argument(
        "--data", required=True, help="dataset file (columns title, content, tags by default)"
    )
    parser.add_argument("--config", help="JSON or YAML file with a data section (flags win)")
    options.add_flags(parser, sections=("data",), extra=("training.seed",), settings=False)


def command_baseline(arguments: argparse.Namespace) -> int:
    from .baselines import run_baseline
    from .data import read_documents

    file_values = load_config_file(arguments.config) if arguments.config else {}
    config = build_config(file_values, options.overrides(arguments))
    documents = read_documents(arguments.data, config.data)
    result = run_baseline(arguments.model, documents, config)
    stats = result.statistics
    print(
        f"{arguments.model}: {stats['train']:,} training, {stats['validation']:,} validation, "
        f"{stats['test']:,} test documents; {stats['labels']} labels; trained in "
        f"{result.training_seconds:.1f}s; threshold {result.threshold:.2f}"
    )
    _print_metrics_table(result.metrics)
    return 0


def _add_checkpoint_commands(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="the paper's metrics of a checkpoint on a dataset",
        description="Evaluate a checkpoint; prints a row like the paper's Table II.",
    )
    evaluate.add_argument("checkpoint", help="checkpoint folder")
    evaluate.add_argument("--data", required=True, help="dataset file with tags")
    evaluate.add_argument(
        "--part",
        choices=("test", "validation", "all"),
        default="test",
        help="which part: the checkpoint's own split of this data, or every document",
    )
    evaluate.add_argument("--threshold", type=float, help="decision threshold (default: the tuned one)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict = commands.add_parser(
        "predict",
        help="suggest tags for a document or a file (JSON out)",
        description="Suggest tags. Give --title/--content, or --input with a file of documents.",
    )
    predict.add_argument("checkpoint", help="checkpoint folder")
    predict.add_argument("--title", default="", help="the document's title")
    predict.add_argument("--content", default="", help="the document's content (HTML accepted)")
    predict.add_argument("--input", help="CSV, TSV, JSONL or JMAN-text file of documents (tags optional)")
    predict.add_argument("--threshold", type=float, help="decision threshold (default: the tuned one)")
    predict.add_argument("--top_k", type=int, help="at most this many selected tags")
    predict.add_argument("--explain", action="store_true", help="include tokens and all attention weights")
    recalibrate = commands.add_parser(
        "recalibrate",
        help="refit a checkpoint's SVM, calibration and blend (converts an older checkpoint)",
        description="Keep a trained checkpoint's network; fit the word-and-pair SVM again on the same split, "
        "calibrate each component on validation, tune the blend weight and the threshold, and "
        "report the model beside the linear SVM baseline. Converts a checkpoint of the first "
        "format. Needs the data file the model was trained on, to rebuild its split. The linear flags "
        "change the checkpoint's SVM settings (the defaults shown are the library's).",
    )
    _add_refit_arguments(recalibrate)
    recalibrate.add_argument(
        "--calibration", choices=CALIBRATIONS, help="platt or isotonic (default: the checkpoint's)"
    )
    options.add_flags(recalibrate, sections=("linear",), settings=False)
    domain = commands.add_parser(
        "add-domain-check",
        help="store what the training documents look like, to flag documents unlike them",
        description="Measure a trained checkpoint's training documents (TF-IDF of a sample of them, how "
        "typical their words are against general English) and its validation documents' best tag scores, "
        "and tune a threshold on validation, so that the Predictor and the app warn about a document "
        "unlike them. Needs the data file the model was trained on, to rebuild its split; the weights are "
        "kept.",
    )
    _add_refit_arguments(domain)
    info = commands.add_parser(
        "info",
        help="show a checkpoint's model card",
        description="Show what a checkpoint is: data, labels, metrics, settings.",
    )
    info.add_argument("checkpoint", help="checkpoint folder")
    info.add_argument("--json", action="store_true", help="print the full metadata as JSON")


def _add_refit_arguments(parser) -> None:
    """The checkpoint, its training data and where to save: what recalibrate and add-domain-check read."""
    parser.add_argument("checkpoint", help="checkpoint folder")
    parser.add_argument("--data", required=True, help="the dataset file the checkpoint was trained on")
    parser.add_argument(
        "--output", help="where to save the model (default: replace the checkpoint, atomically)"
    )


def _add_workspace(commands) -> None:
    workspace = commands.add_parser(
        "workspace",
        help="the curation workspace: list, import, export, train on reviewed documents",
        description="The curators' workspace database (SQLite under runs/ by default, $JMAN_DATABASE_URL or "
        "--database for another file or PostgreSQL), shared with the app.",
    )
    actions = workspace.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    listing = actions.add_parser("list", help="every collection with its documents and reviews")
    importing = actions.add_parser("import", help="a file of documents becomes a collection (ids kept)")
    importing.add_argument("file", help="CSV, TSV, JSONL, JMAN-text or zip file of documents (tags optional)")
    importing.add_argument("--name", help="the collection's name (default: the file's name)")
    importing.add_argument(
        "--model", help="checkpoint folder whose suggestions are stored for every document"
    )
    exporting = actions.add_parser("export", help="a collection as JSONL or CSV (the CSV trains as it is)")
    exporting.add_argument("collection", help="the collection's name or id")
    exporting.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    exporting.add_argument("--output", help="file to write (default: standard output)")
    exporting.add_argument("--curator", help="only this curator's reviews (default: every curator's)")
    exporting.add_argument(
        "--threshold", type=float, help="threshold of the exported suggestions (default: the model's)"
    )
    training = actions.add_parser(
        "train",
        help="train a model on a collection's reviewed documents, compared on a held-out share",
        description="Trains on the final tags of the reviewed documents (after --base_data's documents if "
        "given), holding out a share of them, then compares the new model and --compare on that share.",
    )
    training.add_argument("collection", help="the collection's name or id")
    training.add_argument("--output", required=True, help="checkpoint folder to write")
    training.add_argument(
        "--curator", help="only this curator's reviews (default: the latest review of each document)"
    )
    training.add_argument(
        "--holdout", type=float, default=0.2, help="share of reviewed documents held out (default: 0.2)"
    )
    training.add_argument(
        "--base_data", help="the model's own training file, added to the reviewed documents"
    )
    training.add_argument("--compare", help="checkpoint folder to compare with on the held-out documents")
    training.add_argument(
        "--config", help="JSON or YAML file with sections text, data, model, training, linear (flags win)"
    )
    _add_training_flags(training)
    for parser in (listing, importing, exporting, training):
        parser.add_argument(
            "--database", help="database URL (default: $JMAN_DATABASE_URL, else runs/workspace.sqlite)"
        )


def _add_serve(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="the REST API over a folder of checkpoints (OpenAPI docs at /docs)",
        description="Serve every checkpoint folder under --checkpoints over HTTP (suggest, suggest-batch, "
        "explain, feedback into the workspace); a folder added or replaced there is served without a "
        "restart. "
        "Set JMAN_API_KEYS to require a key, JMAN_CORS_ORIGINS to let browser pages call it.",
    )
    serve.add_argument(
        "--checkpoints", default="checkpoints", help="folder of checkpoint folders (default: checkpoints)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes; over 1 runs gunicorn with uvicorn workers, each loading models once (default: 1)",
    )
    serve.add_argument(
        "--database",
        help="workspace database URL for feedback (default: $JMAN_DATABASE_URL, else runs/workspace.sqlite)",
    )


def command_serve(arguments: argparse.Namespace) -> int:
    from .service import serve

    return serve(arguments.checkpoints, arguments.host, arguments.port, arguments.workers, arguments.database)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jman", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(commands)
    _add_baseline(commands)
    _add_checkpoint_commands(commands)
    _add_workspace(commands)
    _add_serve(commands)
    return parser


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
            self.bar = tqdm(
                total=progress.steps,
                desc=f"epoch {progress.epoch}",
                unit="batch",
                leave=False,
                file=sys.stderr,
            )
        self.bar.update(progress.step - self.bar.n)
        self.bar.set_postfix(loss=f"{progress.loss:.3f}", lr=f"{progress.learning_rate:.2g}")

    def on_stage(self, text: str) -> None:
        print(f"{text[0].upper()}{text[1:]}.", file=sys.stderr)

    def on_epoch_end(self, record) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        marker = " *best*" if record.best else ""
        print(
            f"epoch {record.epoch}: train loss {record.train_loss:.4f}, "
            f"validation loss {record.validation_loss:.4f}, validation F1 {record.validation_f1:.3f} "
            f"at threshold {record.threshold:.2f}, "
            f"{record.seconds:.0f}s ({record.documents_per_second:.0f} docs/s){marker}",
            file=sys.stderr,
        )


def _print_baseline_comparison(metrics: dict[str, Any]) -> None:
    """The new model's test P@1, nDCG@3 and F1 beside the linear SVM baseline's, the verdict in words, and
    the calibration figures."""
    from .checkpoint import baseline_rows, baseline_verdict, calibration_line

    rows = baseline_rows(metrics)
    if not rows:
        return
    print("On the test part, beside the project's linear SVM baseline (same split):")
    print("| model | " + " | ".join(name for name, *_ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    print("| new model | " + " | ".join(f"{100 * model:.1f}" for _, model, _ in rows) + " |")
    print("| linear SVM baseline | " + " | ".join(f"{100 * baseline:.1f}" for *_, baseline in rows) + " |")
    print(baseline_verdict(metrics))
    line = calibration_line(metrics)
    if line:
        print(line)


def _is_metrics_row(metrics: dict[str, Any]) -> bool:
    """A part's metrics (not the calibration report beside them)."""
    return "F1" in metrics


def _print_metrics_table(rows: dict[str, dict[str, float]]) -> None:
    names = ["H", "A", "P", "R", "F1", "P@1", "P@3", "nDCG@3", "nDCG@5", "Micro-F1", "Macro-F1"]
    print("| part | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for part, metrics in rows.items():
        print(
            f"| {part} | "
            + " | ".join(f"{100 * metrics[name]:.1f}" if name in metrics else "-" for name in names)
            + " |"
        )


def command_train(arguments: argparse.Namespace) -> int:
    from .data import data_note, read_documents
    from .experiment import train_documents
    from .training import Callbacks

    file_values = load_config_file(arguments.config) if arguments.config else {}
    config = build_config(file_values, options.overrides(arguments))
    output = Path(
        arguments.output or f"checkpoints/{Path(arguments.data).name.split('.')[0]}-{config.model.variation}"
    )
    documents = read_documents(arguments.data, config.data)
    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun only the first process reports
    printer = _ProgressPrinter(arguments.quiet or not main_process)
    callbacks = Callbacks(
        on_progress=printer.on_progress,
        on_epoch_end=printer.on_epoch_end if main_process else None,
        on_stage=printer.on_stage if main_process else None,
    )
    if main_process:
        print(f"Read {len(documents):,} documents from {arguments.data}.", file=sys.stderr)
    folds = range(config.data.kfold) if config.data.kfold > 1 else [config.data.fold]
    results = []
    for fold in folds:
        fold_config = replace(config, data=replace(config.data, fold=fold))
        if config.data.kfold > 1:
            print(f"Fold {fold + 1} of {config.data.kfold}", file=sys.stderr)
        fold_output = output if len(folds) == 1 else output.parent / f"{output.name}-fold{fold}"
        results.append(
            train_documents(
                documents,
                fold_config,
                fold_output,
                callbacks,
                Path(arguments.data).name,
                arguments.log,
                arguments.resume,
                note=data_note(arguments.data),
            )
        )
    if main_process:
        _report_training(results, output)
    return 0


def _report_training(results, output: Path) -> None:
    from .checkpoint import blend_summary
    from .metrics import format_mean_std, mean_and_std

    last = results[-1]
    print(f"Stopped: {last.stopped_because}.", file=sys.stderr)
    stats = last.statistics
    print(
        f"{stats['train']:,} training, {stats['validation']:,} validation, {stats['test']:,} test documents; "
        f"{stats['labels']} labels; {stats['dropped_without_label']} documents dropped for having no kept "
        "label."
    )
    for result in results:
        if result.checkpoint:
            print(f"Saved {result.checkpoint} (threshold {result.threshold:.2f}).")
    print(blend_summary(stats))
    _print_baseline_comparison(last.metrics)
    _print_metrics_table(
        {name: metrics for name, metrics in last.metrics.items() if _is_metrics_row(metrics)}
    )
    if len(results) > 1 and all("test" in result.metrics for result in results):
        summary = mean_and_std([result.metrics["test"] for result in results])
        print(
            "Test, mean ± std over folds: "
            + ", ".join(
                f"{name} {format_mean_std(*summary[name])}"
                for name in ("H", "A", "P", "R", "F1", "P@1", "nDCG@3")
                if name in summary
            )
        )


def command_evaluate(arguments: argparse.Namespace) -> int:
    from .evaluation import evaluate_checkpoint

    report = evaluate_checkpoint(arguments.checkpoint, arguments.data, arguments.part, arguments.threshold)
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['documents']:,} documents ({arguments.part}), {report['dropped']} dropped for having no "
        f"known label; threshold {report['threshold']:.2f}"
    )
    _print_metrics_table(
        {f"at {report['threshold']:.2f}": report["metrics"], "at 0.50": report["metrics_at_0.5"]}
    )
    return 0


def command_predict(arguments: argparse.Namespace) -> int:
    from .data import read_documents
    from .predict import Predictor

    predictor = Predictor.from_checkpoint(arguments.checkpoint)
    if arguments.input:
        documents = [
            {
                "id": document.id,
                "title": document.title,
                "content": document.content,
                "where": f"{arguments.input}, line {document.line}",
            }
            for document in read_documents(arguments.input, require_tags=False)
        ]
    else:
        documents = [
            {"id": "", "title": arguments.title, "content": arguments.content, "where": "the document"}
        ]
    failed = sum(not _predict_one(predictor, document, arguments) for document in documents)
    if failed and arguments.input:
        print(
            f"error: {failed} of {len(documents)} documents were not tagged (named above); the others were.",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _predict_one(predictor, document: dict[str, str], arguments: argparse.Namespace) -> bool:
    """Prints one document's JSON line, or names its line in the --input file on stderr when it cannot be
    read (the others go on); True if printed."""
    from .errors import DocumentError
    from .evaluation import explanation_to_dict, prediction_to_dict

    try:
        if arguments.explain:
            record = explanation_to_dict(
                predictor.explain(
                    document["title"], document["content"], arguments.threshold, arguments.top_k
                )
            )
        else:
            record = prediction_to_dict(
                predictor.predict(
                    document["title"], document["content"], arguments.threshold, arguments.top_k
                )
            )
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


def command_recalibrate(arguments: argparse.Namespace) -> int:
    from .checkpoint import blend_summary, read_metadata
    from .config import LinearConfig, from_dict, merge, to_dict
    from .experiment import recalibrate

    linear = None
    flags = options.overrides(arguments).get("linear")
    if flags:  # the checkpoint's SVM settings (enabled), with the flags given over them
        current = replace(read_metadata(arguments.checkpoint).linear_config, enabled=True)
        linear = from_dict(LinearConfig, merge(to_dict(current), flags), "linear")
    result = recalibrate(
        arguments.checkpoint, arguments.data, arguments.output, linear, arguments.calibration
    )
    print(f"Saved {result.checkpoint} (threshold {result.threshold:.2f}).")
    print(blend_summary(result.statistics))
    _print_baseline_comparison(result.metrics)
    _print_metrics_table(
        {name: metrics for name, metrics in result.metrics.items() if _is_metrics_row(metrics)}
    )
    return 0


def command_add_domain_check(arguments: argparse.Namespace) -> int:
    from .experiment import add_domain_check

    summary = add_domain_check(arguments.checkpoint, arguments.data, arguments.output).summary()
    print(
        f"Saved {arguments.output or arguments.checkpoint}: {summary['stored_documents']:,} training "
        f"documents stored; signals {', '.join(summary['signals'])}; a document is flagged when they are "
        f"more unusual together than for {1 - summary['validation_warned']:.1%} of validation documents."
    )
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
        reviewed = len(
            {document_id for (document_id, _), review in reviews.items() if review.status == "reviewed"}
        )
        curators = ", ".join(workspace.curators(info.id))
        print(f"| {info.id} | {info.name} | {info.documents} | {reviewed} | {curators} |")
    return 0


def workspace_import(arguments: argparse.Namespace) -> int:
    from .data import read_file_bytes
    from .workspace.scoring import import_file, register_predictor, score_collection

    workspace = _open_workspace(arguments)
    collection = import_file(
        workspace, Path(arguments.file).name, read_file_bytes(arguments.file), arguments.name
    )
    print(f"Collection {collection.name!r} (id {collection.id}): {collection.documents} documents.")
    if arguments.model:
        from .predict import Predictor

        predictor = Predictor.from_checkpoint(arguments.model)
        model = register_predictor(workspace, predictor, arguments.model, Path(arguments.model).name)
        skipped = score_collection(workspace, collection.id, predictor, model)
        print(
            f"Scored by {model.name} ({model.fingerprint}); {len(skipped)} document(s) could not be scored."
        )
        checks = workspace.domain_checks(collection.id, model)
        if checks:
            unlike = sum(check.unusual for check in checks.values())
            print(
                f"{unlike} of {len(checks)} scored document(s) read unlike the model's training documents "
                "(the app's queue can show only those; the export marks them in unlike_training)."
            )
        for message in skipped:
            print(f"  {message}", file=sys.stderr)
    return 0


def workspace_export(arguments: argparse.Namespace) -> int:
    from .workspace.exports import export_records, to_csv, to_jsonl

    workspace = _open_workspace(arguments)
    collection = _collection(workspace, arguments.collection)
    records = export_records(
        workspace, collection.id, threshold=arguments.threshold, curator=arguments.curator
    )
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
    reviewed = split_reviewed(
        reviewed_documents(workspace, collection.id, arguments.curator), arguments.holdout
    )
    base = (
        (Path(arguments.base_data).name, read_file_bytes(arguments.base_data))
        if arguments.base_data
        else (None, None)
    )
    config = build_config(
        load_config_file(arguments.config) if arguments.config else {}, options.overrides(arguments)
    )
    documents = read_documents_from_bytes(
        "reviewed.csv", training_file(reviewed.training, *base), config.data
    )
    print(
        f"Training on {len(reviewed.training)} reviewed document(s)"
        + (
            f" and {len(documents) - len(reviewed.training)} from {arguments.base_data}"
            if arguments.base_data
            else ""
        )
        + f"; {len(reviewed.held_out)} held out.",
        file=sys.stderr,
    )
    printer = _ProgressPrinter(arguments.quiet)
    result = train_documents(
        documents,
        config,
        Path(arguments.output),
        Callbacks(
            on_progress=printer.on_progress, on_epoch_end=printer.on_epoch_end, on_stage=printer.on_stage
        ),
        "reviewed.csv",
    )
    _report_training([result], Path(arguments.output))
    if reviewed.held_out and result.checkpoint:
        _print_comparison(arguments, result.checkpoint, reviewed.held_out, compare_models)
    return 0


def _print_comparison(arguments: argparse.Namespace, checkpoint, held_out, compare_models) -> None:
    from .predict import Predictor

    predictors = {"new model": Predictor.from_checkpoint(checkpoint)}
    if arguments.compare:
        predictors = {
            Path(arguments.compare).name: Predictor.from_checkpoint(arguments.compare),
            **predictors,
        }
    print(f"On the {len(held_out)} held-out reviewed document(s):")
    _print_metrics_table(compare_models(predictors, held_out))


WORKSPACE_ACTIONS = {
    "list": workspace_list,
    "import": workspace_import,
    "export": workspace_export,
    "train": workspace_train,
}

COMMANDS = {
    "train": command_train,
    "baseline": command_baseline,
    "evaluate": command_evaluate,
    "predict": command_predict,
    "info": command_info,
    "recalibrate": command_recalibrate,
    "add-domain-check": command_add_domain_check,
    "workspace": lambda arguments: WORKSPACE_ACTIONS[arguments.action](arguments),
    "serve": command_serve,
}


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
