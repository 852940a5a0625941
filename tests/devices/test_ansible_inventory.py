"""Ansible inventories read by ansible-core itself: ranges, group_vars/host_vars folders, nested
children, scripts, inventory plugins; clean errors; the hint when ansible-core is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgesdk.cli import app
from edgesdk.devices.ansible import read_inventory
from edgesdk.devices.inventory import Device, Inventory
from edgesdk.errors import ConfigError

pytest.importorskip("ansible.inventory.manager")

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_config(ssh_home):
    return ssh_home


def by_name(devices: list[Device]) -> dict[str, Device]:
    return {d.name: d for d in devices}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_ranges_nested_children_and_vars_folders(tmp_path):
    inv = tmp_path / "lab"
    write(
        inv / "hosts.ini",
        """
        [pis]
        pi-[01:16] ansible_host=127.0.0.2

        [cams]
        cam-[a:c]

        [sites:children]
        edge

        [edge:children]
        pis
        cams
        """,
    )
    write(inv / "group_vars" / "all.yml", "edgesdk_workdir: /srv/edgesdk\n")
    write(inv / "group_vars" / "edge.yml", "ansible_user: ops\nansible_port: 2201\n")
    write(inv / "group_vars" / "pis" / "main.yml", "ansible_user: root\n")
    write(inv / "host_vars" / "pi-07.yml", "ansible_port: 2207\nedgesdk_target: raspberry-pi-4\n")
    write(inv / "host_vars" / "cam-b.yml", "ansible_host: '{{ inventory_hostname }}.lab'\n")
    devices = by_name(read_inventory(inv))  # the folder, as `ansible -i lab/` reads it
    assert sorted(devices) == sorted(
        [f"pi-{i:02d}" for i in range(1, 17)] + ["cam-a", "cam-b", "cam-c"]
    )
    pi = devices["pi-03"]
    assert (pi.host, pi.port, pi.user, pi.workdir) == ("127.0.0.2", 2201, "root", "/srv/edgesdk")
    assert pi.groups == ("edge", "pis", "sites")  # nested children: every ancestor
    assert (devices["pi-07"].port, devices["pi-07"].target) == (2207, "raspberry-pi-4")
    assert devices["cam-a"].host == "cam-a" and devices["cam-a"].user == "ops"  # edge's vars
    assert devices["cam-b"].host == "cam-b.lab"  # templated as Ansible does
    assert devices["cam-c"].groups == ("cams", "edge", "sites")
    # the same through the CLI: every device lands in edgesdk's inventory with its groups
    r = runner.invoke(app, ["device", "import", str(inv / "hosts.ini"), "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["added"]) == 19
    assert [d.name for d in Inventory().group("cams")] == ["cam-a", "cam-b", "cam-c"]


def test_yaml_with_deep_children_and_interpreter_discovery(tmp_path):
    path = write(
        tmp_path / "fleet.yml",
        """
        all:
          vars:
            ansible_python_interpreter: auto_silent
          children:
            europe:
              vars: {ansible_user: pi}
              children:
                berlin:
                  hosts:
                    ber-1: {ansible_host: 127.0.0.4, ansible_python_interpreter: /usr/bin/python3.11}
                    ber-2: {ansible_host: 127.0.0.5, ansible_ssh_private_key_file: ~/.ssh/pi}
        """,
    )
    devices = by_name(read_inventory(path))
    assert devices["ber-1"].python == "/usr/bin/python3.11"
    assert devices["ber-2"].python == "python3"  # auto_silent: edgesdk's default
    assert devices["ber-2"].key == str(Path.home() / ".ssh" / "pi")
    assert devices["ber-1"].groups == ("berlin", "europe") and devices["ber-1"].user == "pi"


def test_inventory_script(tmp_path):
    script = write(
        tmp_path / "cmdb.py",
        f"""\
        #!{sys.executable}
        import json, sys
        if sys.argv[1:] == ["--list"]:
            print(json.dumps({{
                "gateways": {{"hosts": ["gw-1", "gw-2"], "vars": {{"ansible_user": "root"}}}},
                "_meta": {{"hostvars": {{
                    "gw-1": {{"ansible_host": "127.0.0.7", "ansible_port": 2022}},
                    "gw-2": {{"ansible_host": "127.0.0.8"}},
                }}}},
            }}))
        else:
            print("{{}}")
        """,
    )
    script.chmod(0o755)
    devices = by_name(read_inventory(script))
    assert sorted(devices) == ["gw-1", "gw-2"]
    assert (devices["gw-1"].host, devices["gw-1"].port, devices["gw-1"].user) == (
        "127.0.0.7",
        2022,
        "root",
    )
    assert devices["gw-2"].groups == ("gateways",)


def test_inventory_plugin_config(tmp_path):
    config = write(
        tmp_path / "generated.yml",
        """
        plugin: ansible.builtin.generator
        hosts:
          name: "{{ site }}-pi-{{ n }}"
          parents:
            - name: "{{ site }}"
              parents:
                - name: stores
        layers:
          site: [berlin, paris]
          n: ["1", "2", "3"]
        """,
    )
    write(tmp_path / "group_vars" / "stores.yml", "ansible_user: edge\nedgesdk_workdir: models\n")
    devices = by_name(read_inventory(config))
    assert len(devices) == 6 and devices["paris-pi-2"].groups == ("paris", "stores")
    assert devices["berlin-pi-3"].user == "edge" and devices["berlin-pi-3"].workdir == "models"


def test_clean_one_line_errors(tmp_path):
    cases = {
        "missing.ini": (None, "no such file or folder"),
        "bad.ini": ("[pis\npi-a\n", "ini plugin"),
        "port.ini": (
            "[pis]\npi-a ansible_port=abc\n",
            "ansible_port='abc' for pi-a is not a number",
        ),
        "empty.yml": ("all:\n  hosts: {}\n", "No hosts in inventory"),
        "name.yml": ("all:\n  hosts:\n    'bad name': {}\n", "Invalid device name 'bad name'"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(ConfigError) as e:
            read_inventory(path)
        assert expected in str(e.value) and "\n" not in str(e.value), (name, str(e.value))
    r = runner.invoke(app, ["device", "import", str(tmp_path / "bad.ini")])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.output


def test_without_ansible_core_the_error_says_how_to_get_it(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        class NoAnsible:
            def find_spec(self, name, path=None, target=None):
                if name == "ansible" or name.startswith("ansible."):
                    raise ImportError("No module named 'ansible'", name="ansible")
        sys.meta_path.insert(0, NoAnsible())
        from edgesdk.errors import ConfigError
        from edgesdk.devices.ansible import read_inventory
        try:
            read_inventory(sys.argv[1])
        except ConfigError as e:
            print(e)
        """
    )
    path = write(tmp_path / "hosts.ini", "[pis]\npi-a\n")
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    ).stdout
    assert out.strip() == (
        "Reading Ansible inventories needs ansible-core (ansible): pip install 'edgesdk[ansible]'"
    )


def test_lookups_in_an_inventory_never_run(tmp_path):
    """Importing runs no lookup (pipe, file, env, ...): such values are refused, naming them."""
    marker = tmp_path / "pwned"
    pipe = "lookup('pipe','touch " + str(marker) + "')"
    cases = {  # inventory file: (text, what the one-line error names)
        "direct.yml": (
            'all:\n  hosts:\n    pi-a:\n      ansible_host: "{{ ' + pipe + ' }}"\n',
            "ansible_host of pi-a",
        ),
        "indirect.yml": (  # through a group variable, templated lazily by Ansible
            'all:\n  vars:\n    h: "{{ ' + pipe + ' }}"\n'
            '  hosts:\n    pi-a:\n      ansible_host: "{{ h }}"\n',
            "ansible_host of pi-a",
        ),
        "default.yml": (  # a failed lookup with a fallback is still refused
            "all:\n  hosts:\n    pi-a:\n"
            '      edgesdk_workdir: "{{ ' + pipe + " | default('x') }}\"\n",
            "edgesdk_workdir of pi-a",
        ),
        "query.ini": (
            "[pis]\npi-a ansible_user=\"{{ query('pipe','touch " + str(marker) + "') }}\"\n",
            "ansible_user of pi-a",
        ),
        "generated.yml": (  # an inventory plugin templates its config while parsing
            "plugin: ansible.builtin.generator\nhosts:\n"
            '  name: "pi-{{ n }}{{ ' + pipe + " }}\"\nlayers:\n  n: ['1']\n",
            "lookup('pipe')",
        ),
    }
    for name, (text, expected) in cases.items():
        path = write(tmp_path / name, text)
        with pytest.raises(ConfigError) as e:
            read_inventory(path)
        message = str(e.value)
        assert expected in message and "lookup" in message, (name, message)
        assert "\n" not in message, (name, message)
        assert not marker.exists(), name
    r = runner.invoke(app, ["device", "import", str(tmp_path / "indirect.yml")])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert Inventory().list() == [] and not marker.exists()


def test_templates_without_lookups_and_unsafe_values(tmp_path):
    path = write(
        tmp_path / "fleet.yml",
        """
        all:
          vars:
            site: lab
          hosts:
            pi-a:
              ansible_host: "{{ inventory_hostname | upper }}.{{ site }}"
              edgesdk_workdir: !unsafe "{{ lookup('pipe','touch PWNED') }}"
        """,
    )
    (device,) = read_inventory(path)
    assert device.host == "PI-A.lab"  # filters and variables still work as in Ansible
    assert device.workdir == "{{ lookup('pipe','touch PWNED') }}"  # !unsafe: taken literally
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    from ansible.plugins.loader import lookup_loader

    assert "get" not in vars(lookup_loader)  # lookups are refused only while reading
