"""The docs' quickstart, verbatim."""

from __future__ import annotations

from nullspace import AsyncMachine, Machine


def test_quickstart_sync() -> None:
    with Machine.create(template="base", timeout=300) as machine:
        result = machine.commands.run("python3 --version", shell=True)
        print(machine.id, result.stdout.strip())
    assert result.stdout.startswith("Python 3")
    assert result.exit_code == 0
    assert machine.id.startswith("sb_")
    assert Machine.get_info_by_id(machine.id).state in ("killing", "killed")


async def test_quickstart_async() -> None:
    async with await AsyncMachine.create(template="base", timeout=300) as machine:
        result = await machine.commands.run("python3 --version", shell=True)
        print(machine.id, result.stdout.strip())
    assert result.stdout.startswith("Python 3")
    assert result.exit_code == 0
    assert (await AsyncMachine.get_info_by_id(machine.id)).state in ("killing", "killed")


def test_run_once_sync() -> None:
    result = Machine.run_once("echo $((6 * 7))")
    assert result.stdout == "42\n"
    result = Machine.run_once("python3", ["-c", "print('argv')"])
    assert result.stdout == "argv\n"


async def test_run_once_async() -> None:
    result = await AsyncMachine.run_once("echo $((6 * 7))")
    assert result.stdout == "42\n"
