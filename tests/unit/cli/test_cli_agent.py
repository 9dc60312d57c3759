"""``zcompute guest quiesce|unquiesce|set-password``: refusals that need no guest agent.

libvirt's test driver has no guest agent; what is checked here happens before one is asked: a
guest without the agent channel is refused naming ``hw_qemu_guest_agent``, a password that
chpasswd cannot take is refused without being repeated, and a password never comes from argv.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.cli.cli_support import GuestFactory, Zc


def test_a_guest_without_the_agent_channel_is_refused_naming_the_property(
    zc: Zc, make_guest: GuestFactory, files: Path
) -> None:
    guest = make_guest("agent")
    for args in (("quiesce",), ("unquiesce",)):
        run = zc("guest", *args, guest.name)
        assert run.code == 1, run
        assert "hw_qemu_guest_agent=yes" in run.err, run
    run = zc("guest", "set-password", guest.name, input="s3cret-Pass\n")
    assert run.code == 1, run
    assert "hw_qemu_guest_agent=yes" in run.err, run
    assert "s3cret-Pass" not in run.out + run.err


def test_a_password_chpasswd_cannot_take_is_refused_without_repeating_it(
    zc: Zc, make_guest: GuestFactory, files: Path
) -> None:
    guest = make_guest("agent")
    empty = zc("guest", "set-password", guest.name, input="\n")
    assert empty.code == 1, empty
    assert "password" in empty.err, empty
    secret = files / "password"
    secret.write_text("tab\tand nul\0inside\n")
    run = zc("guest", "set-password", guest.name, "--password-file", str(secret))
    assert run.code == 1, run
    assert "NUL" in run.err, run
    assert "inside" not in run.out + run.err
    bad_user = zc("guest", "set-password", guest.name, "--user", "no/slash", input="pw\n")
    assert bad_user.code == 1, bad_user
    assert "user" in bad_user.err, bad_user


def test_there_is_no_password_option() -> None:
    from zcompute.cli._agent import guest_set_password

    assert "--password" not in {o for p in guest_set_password.params for o in p.opts}
