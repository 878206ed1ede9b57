"""The quickstart of the docs, as written: create a machine, run a command, print."""

from nullspace import Machine

with Machine.create(template="base", timeout=300) as machine:
    result = machine.commands.run("python3 --version", shell=True)
    print(machine.id, result.stdout.strip())
