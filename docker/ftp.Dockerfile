# The compose stack's FTP server: Debian's vsftpd (the FTP server the tests run), user `filepool` chrooted to its
# home, passive ports 21000-21010 published by docker-compose.yaml.
ARG BASE_IMAGE=debian:bookworm-20251117-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends vsftpd netcat-openbsd \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /var/run/vsftpd/empty \
    && useradd --uid 1002 --home-dir /home/filepool --shell /bin/sh filepool
COPY vsftpd.conf /etc/vsftpd.conf
CMD ["/bin/sh", "-c", "echo \"filepool:${FILEPOOL_FTP_PASSWORD}\" | chpasswd && exec /usr/sbin/vsftpd /etc/vsftpd.conf"]
