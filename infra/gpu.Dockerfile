# GPU image: TensorFlow.js with @tensorflow/tfjs-node-gpu 4.22.0 (libtensorflow 2.9.1 -> CUDA 11.2, cuDNN 8.1).
# Build:  docker build -f infra/gpu.Dockerfile -t cxr-gpu .
# Run:    docker run --gpus all cxr-gpu worker ...   (selectBackend picks tfjs-node-gpu first)
FROM node:24-bookworm-slim AS node

FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
# Node 24 from the official image: its binary needs glibc >= 2.28; Ubuntu 20.04 has 2.31.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates python3 make g++ tar \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY models ./models
# npm ci builds dist/ (prepare script); tfjs-node-gpu's install step downloads libtensorflow (GPU) and its binding.
# --no-save keeps it out of package.json/package-lock.json, which must stay installable on CPU-only hosts.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci \
 && npm install --no-save @tensorflow/tfjs-node-gpu@4.22.0 \
 && node dist/cli/index.js models fetch-backbone
ENV TFJS_BACKEND=node-gpu
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["--help"]
