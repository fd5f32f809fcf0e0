"""`jeg-wizard [--answers FILE]` reaches `tui.app.run`: a bad file is refused before any screen."""

from jeg_wizard.tui.app import run


def test_invalid_answers_file_is_refused_with_its_problems(tmp_path, capsys):
    f = tmp_path / "answers.toml"
    f.write_text("[gateway]\nport = 70000\nprot = 1\n")
    assert run(str(f)) == 2
    err = capsys.readouterr().err
    assert "gateway.port: must be an integer between 1 and 65535, got 70000" in err
    assert "gateway.prot: unknown key; did you mean 'gateway.port'?" in err
