# syntax=docker/dockerfile:1
# One image for both processes: `node apps/ingress/src/main.ts` (default) or
# `node apps/worker/src/main.ts`. Node 24 runs the TypeScript sources directly (type stripping), so
# there is no build step and what runs is exactly what was reviewed.

FROM node:24-slim AS deps
WORKDIR /app
RUN npm install -g pnpm@10.34.8 && npm cache clean --force
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY apps/ingress/package.json apps/ingress/
COPY apps/worker/package.json apps/worker/
COPY packages/config/package.json packages/config/
COPY packages/contracts/package.json packages/contracts/
COPY packages/dms/package.json packages/dms/
COPY packages/observability/package.json packages/observability/
COPY packages/queues/package.json packages/queues/
COPY packages/testkit/package.json packages/testkit/
COPY packages/web1on1/package.json packages/web1on1/
RUN pnpm install --frozen-lockfile --prod --ignore-scripts=false

FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=node:node /app /app
COPY --chown=node:node apps ./apps
COPY --chown=node:node packages ./packages
USER node
EXPOSE 4002 9464
# SIGTERM goes straight to node (no shell in between), which drains and exits 0.
CMD ["node", "apps/ingress/src/main.ts"]
