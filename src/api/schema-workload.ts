// The JSON schema of Skiff's own kind, Workload (skiff.dev/v1alpha1): how `skiff up`
// starts a workload as local processes. Mirrors WorkloadSpec in ./kinds.ts; unknown
// fields are rejected (additionalProperties: false) as Kubernetes does for a CRD with a
// structural schema under strict field validation.

const stringMap = { type: "object", additionalProperties: { type: "string" } } as const;
const port = { type: "integer", minimum: 0, maximum: 65535 } as const;
const portRef = { anyOf: [{ type: "integer", minimum: 1, maximum: 65535 }, { type: "string", minLength: 1 }] } as const;

const probe = {
  type: "object",
  additionalProperties: false,
  properties: {
    httpGet: {
      type: "object",
      additionalProperties: false,
      required: ["path", "port"],
      properties: { path: { type: "string" }, port: portRef, scheme: { enum: ["HTTP", "HTTPS"] } },
    },
    tcpSocket: { type: "object", additionalProperties: false, required: ["port"], properties: { port: portRef } },
    exec: { type: "object", additionalProperties: false, required: ["command"], properties: { command: { type: "array", minItems: 1, items: { type: "string" } } } },
    initialDelaySeconds: { type: "integer", minimum: 0 },
    periodSeconds: { type: "integer", minimum: 1 },
    timeoutSeconds: { type: "integer", minimum: 1 },
    failureThreshold: { type: "integer", minimum: 1 },
    successThreshold: { type: "integer", minimum: 1 },
  },
} as const;

export const workloadSchema = {
  type: "object",
  required: ["apiVersion", "kind", "metadata", "spec"],
  additionalProperties: false,
  properties: {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: {
      type: "object",
      required: ["name"],
      properties: { name: { type: "string" }, namespace: { type: "string" }, labels: stringMap, annotations: stringMap },
    },
    spec: {
      type: "object",
      additionalProperties: false,
      required: ["command"],
      properties: {
        command: { type: "array", minItems: 1, items: { type: "string" } },
        args: { type: "array", items: { type: "string" } },
        env: {
          anyOf: [
            stringMap,
            {
              type: "array",
              items: { type: "object", additionalProperties: false, required: ["name", "value"], properties: { name: { type: "string", minLength: 1 }, value: { type: "string" } } },
            },
          ],
        },
        workingDir: { type: "string" },
        ports: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["containerPort"],
            properties: { name: { type: "string" }, containerPort: port, protocol: { type: "string" } },
          },
        },
        labels: stringMap,
        serviceAccount: { type: "string" },
        replicas: { type: "integer", minimum: 0 },
        readinessProbe: probe,
      },
    },
    status: { type: "object" },
  },
} as const;
