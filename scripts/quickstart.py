"""The quickstart of the docs, as written: create a machine, run a command, start a
server in the background, talk to it from inside the machine, stop it."""

from nullspace import Machine

with Machine.create(template="base", timeout=300) as machine:
    result = machine.commands.run("python3 --version", shell=True)
    print(machine.id, result.stdout.strip())

    server = machine.commands.run(
        "python3 -m http.server 8080",
        background=True,
        shell=True,
    )
    probe = machine.commands.run(
        "for i in $(seq 50); do python3 -c \"import urllib.request as u; "
        "print(u.urlopen('http://127.0.0.1:8080/').status)\" 2>/dev/null && exit 0; "
        "sleep 0.2; done; exit 1",
        shell=True,
    )
    print("background server", server.pid, "answered", probe.stdout.strip())
    server.kill()
