# capi-autopilot's image: compiled JavaScript and production dependencies on Node 24, run as non-root.
# Not built in this repository's CI (no registry is reachable there); see README "Container image".
#   docker build -t capi-autopilot:0.1.0 .

# Compile TypeScript to dist/. typescript is invoked through node directly: the `node` devDependency that
# pins Node 24 for `npm run` needs its install script, which this stage skips.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# Production dependencies only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# The uid the manifests run as (deploy/base/deployment.yaml runAsUser); owns nothing it could write.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/capi-autopilot.js"]
CMD ["run"]
