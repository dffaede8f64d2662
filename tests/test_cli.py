import subprocess
import sys

from atom_jax import cli


def test_help_lists_every_subcommand(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "atom_jax.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "convert" in proc.stdout
