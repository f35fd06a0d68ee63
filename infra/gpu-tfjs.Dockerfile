# TF.js GPU image: @tensorflow/tfjs-node-gpu 4.22.0 (libtensorflow 2.9.1 -> CUDA 11.2, cuDNN 8.1). Kept for the
# trainer's TF.js suffix on native kernels (`--train-from all` is practical only there); score workers use
# the CUDA 12 ONNX Runtime image (infra/gpu.Dockerfile). CUDA 11.2 / cuDNN 8 on Ubuntu 20.04 is past end of
# life and has no native kernels for sm_90 (H100): there, TensorFlow JIT-compiles PTX at start, if at all.
#   docker build -f infra/gpu-tfjs.Dockerfile -t registry.example.com/cxr-gpu-tfjs .
#   docker run --gpus all registry.example.com/cxr-gpu-tfjs worker --queues train ...   (selectBackend picks tfjs-node-gpu)
# Not built or run here (no Docker engine, no GPU).
FROM node:24-bookworm-slim AS node

FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
# Node 24 from the official image: its binary needs glibc >= 2.28; Ubuntu 20.04 has 2.31.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates python3 make g++ tar \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 cxr && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cxr
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY models ./models
# npm ci builds dist/ (prepare script); then the dev dependencies go, and tfjs-node-gpu's install step
# downloads libtensorflow (GPU) and its binding. --no-save keeps it out of package.json/package-lock.json,
# which must stay installable on CPU-only hosts.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci \
 && node dist/cli/index.js models fetch-backbone \
 && npm prune --omit=dev \
 && npm install --no-save --omit=dev @tensorflow/tfjs-node-gpu@4.22.0 \
 && npm cache clean --force \
 && rm -rf src tsconfig.json \
 && mkdir -p models/.cache/s3-models models/.cache/onnx models/.cache/features models/.cache/activations \
 && chown cxr:cxr models/.cache/s3-models models/.cache/onnx models/.cache/features models/.cache/activations
ENV NODE_ENV=production TFJS_BACKEND=node-gpu
USER 10001:10001
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["--help"]
