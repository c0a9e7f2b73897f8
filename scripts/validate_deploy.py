"""Validates what cannot be run here (no Docker engine, no cluster): the compose file, the
Dockerfile and the rendered Kubernetes manifests, against their schemas and our rules.

    validate_deploy.py [--root DIR]     validate the tree at DIR (default: the repository)
    validate_deploy.py --self-test      prove that broken copies are rejected

Run by `make validate-deploy` (part of `make lint`) with the pinned tools it installs.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = ["vault", "billy", "renos", "crm", "flow", "shared"]
# Services that call a third party's API over HTTPS outside the cluster (billy: Billy.dk;
# vault: an embeddings API when configured).
EXTERNAL_HTTPS = {"billy", "flow", "vault"}
# Services that call another's HTTP API (with the user's token), beyond shared's JWKS.
CALLS = {"crm": {"vault"}}
BIN = os.path.dirname(sys.executable)


class Report:
    def __init__(self):
        self.problems = []

    def fail(self, where, what):
        self.problems.append(f"{where}: {what}")

    def ok(self):
        return not self.problems


def run(command, cwd):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


# --- compose -------------------------------------------------------------------------------

SECRET_KEY = re.compile(r"(PASSWORD|TOKEN|SECRET|SIGNING_KEY)", re.I)


def check_compose(root, report):
    path = os.path.join(root, "docker-compose.yml")
    result = run([os.path.join(BIN, "check-jsonschema"), "--builtin-schema",
                  "vendor.compose-spec", path], root)
    if result.returncode != 0:
        report.fail("docker-compose.yml", "not a valid compose file:\n" + result.stdout + result.stderr)
        return
    with open(path) as f:
        compose = yaml.safe_load(f)
    services = compose.get("services", {})
    for name in SERVICES + ["postgres", "kafka", "otel-collector", "migrations"]:
        if name not in services:
            report.fail("docker-compose.yml", f"no service `{name}`")
    for name, service in services.items():
        depends = service.get("depends_on", {})
        if isinstance(depends, dict):
            for target, condition in depends.items():
                if target not in services:
                    report.fail("docker-compose.yml", f"{name} depends on unknown service `{target}`")
                if not isinstance(condition, dict) or "condition" not in condition:
                    report.fail("docker-compose.yml", f"{name} depends on {target} without a condition")
        elif isinstance(depends, list):
            for target in depends:
                if target not in services:
                    report.fail("docker-compose.yml", f"{name} depends on unknown service `{target}`")
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEY.search(key) and value and "${" not in str(value):
                report.fail("docker-compose.yml", f"{name}.{key} holds a literal secret")
            if "://" in str(value) and re.search(r"://[^:/@]+:[^$@{][^@]*@", str(value)):
                report.fail("docker-compose.yml", f"{name}.{key} has a literal password in a URL")
    for name in SERVICES:
        service = services.get(name, {})
        if "healthcheck" not in service:
            report.fail("docker-compose.yml", f"{name} has no healthcheck")
        if "migrations" not in (service.get("depends_on") or {}):
            report.fail("docker-compose.yml", f"{name} does not wait for the migrations")
    for volume in ["pgdata", "kafkadata"]:
        if volume not in (compose.get("volumes") or {}):
            report.fail("docker-compose.yml", f"no named volume `{volume}`")


# --- Dockerfile ----------------------------------------------------------------------------

def check_dockerfile(root, report):
    path = os.path.join(root, "deploy", "Dockerfile")
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip() and not line.strip().startswith("#")]
    stages = [line for line in lines if line.upper().startswith("FROM ")]
    if len(stages) < 2:
        report.fail("deploy/Dockerfile", "not a multi-stage build")
    if not any("cargo chef cook" in line for line in lines):
        report.fail("deploy/Dockerfile", "dependencies are not cached (cargo chef cook)")
    users = [line.split(None, 1)[1] for line in lines if line.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        report.fail("deploy/Dockerfile", "the final image runs as root")
    if not any(line.upper().startswith("HEALTHCHECK ") for line in lines):
        report.fail("deploy/Dockerfile", "no HEALTHCHECK")
    for line in lines:
        if line.upper().startswith("ARG ") or line.upper().startswith("ENV "):
            if SECRET_KEY.search(line) and "=" in line:
                report.fail("deploy/Dockerfile", f"a secret baked into the image: {line}")


# --- Kubernetes ----------------------------------------------------------------------------

def render(root, kustomization, report):
    result = run(["kubectl", "kustomize", kustomization], root)
    if result.returncode != 0:
        report.fail(kustomization, "kustomize cannot render it:\n" + result.stderr)
        return None
    return result.stdout


def check_kubernetes(root, report):
    overlays_dir = os.path.join(root, "deploy", "k8s", "overlays")
    targets = [os.path.join("deploy", "k8s", "base")] + [
        os.path.join("deploy", "k8s", "overlays", name) for name in sorted(os.listdir(overlays_dir))
    ]
    for target in targets:
        rendered = render(root, target, report)
        if rendered is None:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(rendered)
            rendered_path = f.name
        try:
            result = run([os.path.join(BIN, "kubernetes-validate"), "--strict", "--quiet",
                          "--no-warn", "-k", "1.32.0", rendered_path], root)
            if result.returncode != 0:
                report.fail(target, "schema validation failed:\n" + (result.stdout or result.stderr)[-3000:])
        finally:
            os.unlink(rendered_path)
        check_policies(target, list(yaml.safe_load_all(rendered)), report)


def check_policies(target, documents, report):
    documents = [d for d in documents if d]
    by_kind = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        if doc["kind"] == "Secret":
            report.fail(target, f"Secret {doc['metadata']['name']} is in git; reference it instead")
    for name in SERVICES:
        deployment = by_kind.get("Deployment", {}).get(name)
        if deployment is None:
            report.fail(target, f"no Deployment `{name}`")
            continue
        for kind in ["Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"]:
            if name not in by_kind.get(kind, {}):
                report.fail(target, f"{name} has no {kind}")
        pod = deployment["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        if not pod_security.get("runAsNonRoot"):
            report.fail(target, f"{name} may run as root (runAsNonRoot)")
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                report.fail(target, f"{where}: liveness probe is not /healthz")
            if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                report.fail(target, f"{where}: readiness probe is not /readyz")
            resources = container.get("resources", {})
            if not resources.get("requests") or not resources.get("limits"):
                report.fail(target, f"{where}: resources need requests and limits")
            security = container.get("securityContext", {})
            if not security.get("readOnlyRootFilesystem"):
                report.fail(target, f"{where}: root filesystem is writable")
            if security.get("allowPrivilegeEscalation", True):
                report.fail(target, f"{where}: privilege escalation is allowed")
            for env in container.get("env", []):
                if SECRET_KEY.search(env["name"]) or env["name"].endswith("DATABASE__URL"):
                    if "value" in env:
                        report.fail(target, f"{where}: {env['name']} is a literal, not a secret reference")
        policy = by_kind.get("NetworkPolicy", {}).get(name)
        if policy is not None:
            egress = policy["spec"].get("egress", [])
            allowed = {
                "https" if "ipBlock" in peer and rule.get("ports") == [{"protocol": "TCP", "port": 443}]
                else peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                for rule in egress
                for peer in rule.get("to", [])
            }
            for rule in egress:
                # A rule without peers reaches everything on its ports: only DNS may be that open.
                if not rule.get("to") and any(p.get("port") != 53 for p in rule.get("ports", [{}])):
                    report.fail(target, f"{name} may reach anything on {rule.get('ports')}")
            expected = {"postgres", "kafka", "otel-collector"} | ({"shared"} if name != "shared" else set())
            expected |= {"https"} if name in EXTERNAL_HTTPS else set()
            expected |= CALLS.get(name, set())
            if allowed - expected:
                report.fail(target, f"{name} may reach {sorted(allowed - expected)}")
            if expected - allowed:
                report.fail(target, f"{name} cannot reach {sorted(expected - allowed)}")
    if not any(job for job in by_kind.get("Job", {}).values()):
        report.fail(target, "no migrations Job")


def validate(root):
    report = Report()
    check_compose(root, report)
    check_dockerfile(root, report)
    check_kubernetes(root, report)
    return report


# --- self-test -----------------------------------------------------------------------------

def breakages():
    """(description, file, transformation) of deliberately broken copies."""
    return [
        ("a Deployment field of the wrong type", "deploy/k8s/base/crm/deployment.yaml",
         lambda text: text.replace("replicas: 2", "replicas: two")),
        ("a Deployment without its readiness probe", "deploy/k8s/base/vault/deployment.yaml",
         lambda text: re.sub(r"          readinessProbe:\n(            .*\n)+", "", text, count=1)),
        ("a container that may write its root filesystem", "deploy/k8s/base/billy/deployment.yaml",
         lambda text: text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")),
        ("a NetworkPolicy letting a service reach another", "deploy/k8s/base/flow/network-policy.yaml",
         lambda text: text.replace("app.kubernetes.io/name: kafka}", "app.kubernetes.io/name: billy}")),
        ("an unknown field in a manifest", "deploy/k8s/base/renos/service.yaml",
         lambda text: text.replace("spec:\n", "spec:\n  replicaz: 3\n", 1)),
        ("a compose service depending on one that does not exist", "docker-compose.yml",
         lambda text: text.replace("kafka: {condition: service_healthy}", "kafkaa: {condition: service_healthy}", 1)),
        ("a literal secret in compose", "docker-compose.yml",
         lambda text: text.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "hunter2", 1)),
        ("a root runtime image", "deploy/Dockerfile",
         lambda text: text.replace("USER 10001", "USER root")),
    ]


def self_test():
    failures = []
    for description, relative, transform in breakages():
        with tempfile.TemporaryDirectory() as tmp:
            for item in ["docker-compose.yml", "deploy"]:
                source = os.path.join(REPO, item)
                if os.path.isdir(source):
                    shutil.copytree(source, os.path.join(tmp, item))
                else:
                    shutil.copy(source, os.path.join(tmp, item))
            path = os.path.join(tmp, relative)
            with open(path) as f:
                original = f.read()
            broken = transform(original)
            if broken == original:
                failures.append(f"{description}: the breakage did not apply to {relative}")
                continue
            with open(path, "w") as f:
                f.write(broken)
            report = validate(tmp)
            if report.ok():
                failures.append(f"{description}: accepted, but must be rejected")
            else:
                print(f"  rejected as expected: {description} ({report.problems[0].splitlines()[0]})")
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=REPO)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        failures = self_test()
        for failure in failures:
            print("FAIL", failure)
        print(f"{len(breakages()) - len(failures)} passed, {len(failures)} failed")
        return 1 if failures else 0
    report = validate(args.root)
    for problem in report.problems:
        print("FAIL", problem)
    if report.ok():
        print("deployment files are valid: docker-compose.yml, deploy/Dockerfile, deploy/k8s (base and overlays)")
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
