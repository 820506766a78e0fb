"""`samvad nlu train` talks while Rasa trains: components, epochs, silence, errors.

A stand-in `rasa` executable prints what Rasa 3.6 prints (log lines, tqdm bars ending in
carriage returns) so that the condensing and the model's placement are checked in
seconds; the real training runs in `make rasa` and is served in tests/bot/test_rasa_nlu.py.
"""

from __future__ import annotations

import stat
import sys
import textwrap

import pytest

from bot import rasa_project

FAKE_RASA = """\
    import sys, time
    args = sys.argv[1:]
    out = args[args.index("--out") + 1]
    name = args[args.index("--fixed-model-name") + 1]
    print("2026-12-07 03:12:06 INFO     rasa.engine.training.hooks  - Starting to train "
          "component 'DIETClassifier'.", flush=True)
    for epoch in range(0, 81, 20):
        sys.stdout.write(f"\\rEpochs: {epoch * 100 // 80:3d}%|###| {epoch}/80 "
                         f"[00:{epoch:02d}<01:{80 - epoch:02d},  1.0s/it, t_loss=2.2]")
        sys.stdout.flush()
        time.sleep(0.01)
    print("\\n2026-12-07 03:13:00 WARNING  some.noisy.library  - a warning nobody needs")
    print("2026-12-07 03:13:01 INFO     rasa.engine.training.hooks  - Finished training "
          "component 'DIETClassifier'.", flush=True)
    if "FAIL" in open(__file__).read().split("#" + "MODE")[1]:
        print("ERROR    rasa.main  - the training data is broken", flush=True)
        sys.exit(3)
    open(f"{out}/{name}.tar.gz", "wb").write(b"model")
    print(f"Your Rasa model is trained and saved at '{out}/{name}.tar.gz'.")
    #MODE
"""


@pytest.fixture
def fake_rasa(tmp_path, monkeypatch):
    def make(mode: str = "OK"):
        script = tmp_path / "rasa"
        script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_RASA) + "# " + mode + "\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        models = tmp_path / "models"
        models.mkdir(exist_ok=True)
        (models / "samvad-nlu-000000000000.tar.gz").write_bytes(b"an older model")
        monkeypatch.setattr(rasa_project, "rasa_executable", lambda: script)
        monkeypatch.setattr(rasa_project, "MODELS_DIR", models)
        monkeypatch.setattr(rasa_project, "model_path",
                            lambda: models / f"{rasa_project.model_name()}.tar.gz")
        monkeypatch.setattr(rasa_project, "PROGRESS_EVERY_S", 0.0)
        return models
    return make


def test_training_shows_components_and_epochs_and_places_the_model(fake_rasa, tmp_path):
    models = fake_rasa()
    said: list[str] = []
    trained = rasa_project.train(tmp_path / "train.log", say=said.append)
    assert trained == rasa_project.model_path() and trained.read_bytes() == b"model"
    assert [p.name for p in models.glob("*.tar.gz")] == [trained.name]  # the old one is gone
    shown = [line.split("] ", 1)[1] for line in said]
    assert shown[0] == "training DIETClassifier"
    assert "epoch 40/80 (50 %, ~01:40 left)" in shown
    assert "epoch 80/80 (100 %, ~01:00 left)" in shown
    assert shown[-2:] == ["trained  DIETClassifier", "model written"]
    assert all(line.startswith("    [ 0:0") for line in said), said
    log = (tmp_path / "train.log").read_text()
    assert "a warning nobody needs" in log and "a warning nobody needs" not in "".join(said)
    assert not list(models.glob(".training-*"))


def test_a_failed_training_says_why_and_keeps_the_old_model(fake_rasa, tmp_path):
    models = fake_rasa("FAIL")
    said: list[str] = []
    with pytest.raises(RuntimeError, match="exited with 3") as failure:
        rasa_project.train(tmp_path / "train.log", say=said.append)
    assert "the training data is broken" in str(failure.value)
    assert any("the training data is broken" in line for line in said)
    assert [p.name for p in models.glob("*.tar.gz")] == ["samvad-nlu-000000000000.tar.gz"]
    assert not list(models.glob(".training-*"))
