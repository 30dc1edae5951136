#!/bin/sh
# docker-compose.yaml's minio-init: the bucket `landing`, and the user the tasks log in as (connection
# filepool_minio), whose policy reaches that bucket and nothing else; the root user stays with the operator.
# Idempotent: `docker compose up` runs it on every start.
set -eu
mc alias set stack http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing stack/landing
cat > /tmp/filepool-tasks.json <<'JSON'
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
     "Resource": ["arn:aws:s3:::landing"]},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                                   "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::landing/*"]}
  ]
}
JSON
mc admin policy create stack filepool-tasks /tmp/filepool-tasks.json
mc admin user add stack "$MINIO_TASKS_USER" "$MINIO_TASKS_PASSWORD"
mc admin policy attach stack filepool-tasks --user "$MINIO_TASKS_USER" || true  # attached already: fine
echo "minio-init: bucket landing, user $MINIO_TASKS_USER limited to it"
