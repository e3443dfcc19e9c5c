"""Options are declared once: the parsers, the store key and resume checks all read the fields."""
import dataclasses

import pytest

from streamgan.common import options
from streamgan.common.errors import ConfigError
from streamgan.common.options import marked
from streamgan.pipeline.cli import build_parser
from streamgan.preprocess.config import PreprocessConfig
from streamgan.store.reuse import store_key
from streamgan.train.config import TrainConfig
from streamgan.train.warmstart import incompatibility
from tests.helpers import another_value


def test_every_store_changing_option_changes_the_store_key():
    base = PreprocessConfig(catalog="c.json", output="")
    fields = {f.name: f for f in dataclasses.fields(PreprocessConfig)}
    store_options = marked(PreprocessConfig, "store")
    assert {"image_size", "fit", "background", "max_records", "compression"} <= set(store_options)
    for name in store_options:
        changed = dataclasses.replace(base, **{name: another_value(fields[name])}).validate()
        assert store_key("abc", changed) != store_key("abc", base), name
    for name in ("timeout", "retries", "fetch_threads", "overwrite"):  # not marked: same store
        changed = dataclasses.replace(base, **{name: another_value(fields[name])})
        assert store_key("abc", changed) == store_key("abc", base), name
    assert store_key("abd", base) != store_key("abc", base)  # another catalogue


def parse(argv):
    return build_parser().parse_known_args(argv)[0]


def test_run_accepts_every_preprocess_and_train_option_with_the_same_defaults(tmp_path):
    """`run` derives its options from both configs: nothing is re-typed, nothing drifts."""
    args = parse(["run", "--catalog", "c.json", "--workdir", str(tmp_path)])
    from streamgan.pipeline.run_cmd import PREPROCESS_OWN, TRAIN_OWN  # what run sets itself
    for cls, own in ((PreprocessConfig, PREPROCESS_OWN), (TrainConfig, TRAIN_OWN)):
        for field in dataclasses.fields(cls):
            if field.name not in own and field.metadata.get("cli", True):
                assert getattr(args, field.name) == field.default, field.name
    args = parse(["run", "--catalog", "c.json", "--workdir", "w", "--fit", "crop",
                  "--epochs", "3", "--background", "black", "--compression", "gzip"])
    assert (args.fit, args.epochs, args.background, args.compression) == (
        "crop", 3, (0, 0, 0), "gzip")


def test_train_help_shows_the_config_defaults(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in options.fields(TrainConfig):
        if field.default is not dataclasses.MISSING and not isinstance(field.default, bool):
            shown = field.metadata["default_text"] or ("none" if field.default is None
                                                        else str(field.default))
            assert f"{options.flag_of(TrainConfig, field.name)} " in text, field.name
            assert f"(default {shown})" in text, field.name
    assert "about 16 MiB of images" in text  # the stream's own default, not a copy


def test_train_help_names_the_default_architecture(capsys):
    import dataclasses
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}["arch"]
    assert f"{default} (the default): " in text and "(the default)" not in text.replace(
        f"{default} (the default)", "")
    assert text.split("\n\n")[1].startswith("`streamgan train`: train a GAN on an image store")


def test_train_options_default_to_none_so_resume_sees_what_was_given():
    args = parse(["train", "--workdir", "w", "--resume", "--epochs", "9"])
    assert args.epochs == 9 and args.batch_size is None and args.latent_dim is None


def test_a_resume_refuses_exactly_the_fixed_options():
    saved = TrainConfig(store="s", workdir="w")
    for field in options.fields(TrainConfig):
        other = another_value(field)
        if field.name in marked(TrainConfig, "fixed"):
            with pytest.raises(ConfigError, match=f"^{options.flag_of(TrainConfig, field.name)} "):
                saved.check_fixed({field.name: other})
        else:
            saved.check_fixed({field.name: other})  # a run option: the resume takes it


def test_a_warm_start_needs_exactly_the_shape_options_and_they_are_fixed():
    parent = TrainConfig(store="s", workdir="w")
    for field in dataclasses.fields(TrainConfig):
        if "help" not in field.metadata:
            continue
        child = dataclasses.replace(parent, **{field.name: another_value(field)})
        problem = incompatibility(parent, child)
        if field.name in marked(TrainConfig, "shape"):
            assert problem and problem.startswith(f"its {field.name} is"), field.name
        else:
            assert problem is None, field.name
    # a resume must keep every weight shape the user can set
    on_the_command_line = {f.name for f in options.fields(TrainConfig)}
    assert set(marked(TrainConfig, "shape")) & on_the_command_line <= set(
        marked(TrainConfig, "fixed"))
