# The compose stack's SFTP server: Debian's OpenSSH (the sshd the tests run), user `filepool` chrooted to its home,
# files under /data, the host key airflow-init generated (mounted at /keys) and nothing else.
ARG BASE_IMAGE=debian:bookworm-20251117-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends openssh-server procps \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /run/sshd \
    && useradd --uid 1001 --home-dir /home/filepool --shell /usr/sbin/nologin filepool \
    && mkdir -p /home/filepool/data && chown root:root /home/filepool && chmod 755 /home/filepool
COPY sshd_config /etc/ssh/sshd_config
# The password comes from the environment at start, never from the image.
CMD ["/bin/sh", "-c", "echo \"filepool:${FILEPOOL_SFTP_PASSWORD}\" | chpasswd && exec /usr/sbin/sshd -D -e"]
