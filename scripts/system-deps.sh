#!/usr/bin/env bash
# Debian packages the tests, the demo and the benchmarks run for real: PostgreSQL, OpenSSH, vsftpd, rclone, lftp,
# the Docker Engine (and debootstrap, to make a base image: no registry is reachable), kcat, chromium,
# RabbitMQ, Redis, docker-compose.
# Installs what is missing when run as root; otherwise only says what is missing.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v rclone >/dev/null || need+=(rclone)
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
command -v lftp >/dev/null || need+=(lftp)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
[ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v kcat >/dev/null || need+=(kcat)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the browser tests drive it through Playwright
[ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)  # arrival notifications over AMQP
[ -x /usr/bin/redis-server ] || need+=(redis-server)  # the Celery broker of the CeleryExecutor test
command -v docker-compose >/dev/null || need+=(docker-compose)  # reads docker-compose.yaml as compose does
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (install them as root): ${need[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
