// Schema validation: each resource against its kind's OpenAPI schema. The Istio kinds use
// the validators that @kubernetes-models/istio generates from Istio's CRDs, Namespace and
// Service those of kubernetes-models (generated from Kubernetes' OpenAPI), and Skiff's own
// Workload a JSON schema of ours (./schema-workload.ts) compiled with ajv. Nothing here
// copies a schema by hand.
//
// The generated validators do not reject unknown fields (Kubernetes prunes them instead),
// yet a misspelt field is the most common mistake in config: `timeuot: 5s` would silently
// do nothing. So unknown fields are found by asking the validator itself (./schema-probe.ts).
import { Ajv } from "ajv";
import { Gateway, VirtualService, DestinationRule, ServiceEntry, Sidecar, WorkloadEntry, WorkloadGroup } from "@kubernetes-models/istio/networking.istio.io/v1";
import { AuthorizationPolicy, PeerAuthentication, RequestAuthentication } from "@kubernetes-models/istio/security.istio.io/v1";
import { Telemetry } from "@kubernetes-models/istio/telemetry.istio.io/v1";
import { Namespace, Service } from "kubernetes-models/v1";
import type { AnyResource, Diagnostic, KindName } from "./types.ts";
import { rawObjects } from "./load.ts";
import { workloadSchema } from "./schema-workload.ts";
import { findUnknownFields, type RawValidate, type SchemaError } from "./schema-probe.ts";
import { schemaErrorsToDiagnostics } from "./schema-errors.ts";

type ModelClass = new (data: never) => { validate(): void };

/** Runs a kubernetes-models class's validator, which throws on invalid data, as a function returning its errors. */
function modelValidator(model: ModelClass): RawValidate {
  return (data) => {
    try {
      new model(data as never).validate();
      return [];
    } catch (err) {
      const errors = (err as { errors?: unknown }).errors;
      if (Array.isArray(errors)) return errors as SchemaError[];
      throw err;
    }
  };
}

function ajvValidator(schema: object): RawValidate {
  // verbose: errors carry their schema, so an unknown field can be matched to the known ones.
  const validate = new Ajv({ allErrors: true, verbose: true, strict: true }).compile(schema);
  return (data) => (validate(data) ? [] : ((validate.errors ?? []) as SchemaError[]));
}

interface KindValidator {
  validate: RawValidate;
  /** The kinds whose validator ignores unknown fields need them found by probing. */
  probeUnknownFields: boolean;
  /** Where the generated validator's source lives, to collect field names for "did you mean" hints. */
  schemaModules: readonly { pkg: string; file: string }[];
}

const istio = (model: ModelClass, schemaFile: string): KindValidator => ({
  validate: modelValidator(model),
  probeUnknownFields: true,
  schemaModules: [{ pkg: "@kubernetes-models/istio", file: `_schemas/${schemaFile}.js` }],
});
const kube = (model: ModelClass, schemaFile: string): KindValidator => ({
  validate: modelValidator(model),
  probeUnknownFields: true,
  schemaModules: [{ pkg: "kubernetes-models", file: `_schemas/${schemaFile}.js` }],
});

const VALIDATORS: Record<KindName, () => KindValidator> = {
  Gateway: () => istio(Gateway, "NetworkingIstioIoV1Gateway"),
  VirtualService: () => istio(VirtualService, "NetworkingIstioIoV1VirtualService"),
  DestinationRule: () => istio(DestinationRule, "NetworkingIstioIoV1DestinationRule"),
  ServiceEntry: () => istio(ServiceEntry, "NetworkingIstioIoV1ServiceEntry"),
  Sidecar: () => istio(Sidecar, "NetworkingIstioIoV1Sidecar"),
  WorkloadEntry: () => istio(WorkloadEntry, "NetworkingIstioIoV1WorkloadEntry"),
  WorkloadGroup: () => istio(WorkloadGroup, "NetworkingIstioIoV1WorkloadGroup"),
  PeerAuthentication: () => istio(PeerAuthentication, "SecurityIstioIoV1PeerAuthentication"),
  RequestAuthentication: () => istio(RequestAuthentication, "SecurityIstioIoV1RequestAuthentication"),
  AuthorizationPolicy: () => istio(AuthorizationPolicy, "SecurityIstioIoV1AuthorizationPolicy"),
  Telemetry: () => istio(Telemetry, "TelemetryIstioIoV1Telemetry"),
  Namespace: () => kube(Namespace, "IoK8sApiCoreV1Namespace"),
  Service: () => kube(Service, "IoK8sApiCoreV1Service"),
  Workload: () => ({ validate: ajvValidator(workloadSchema), probeUnknownFields: false, schemaModules: [] }),
};

const built = new Map<KindName, KindValidator>();
function validatorFor(kind: KindName): KindValidator {
  let v = built.get(kind);
  if (!v) {
    v = VALIDATORS[kind]();
    built.set(kind, v);
  }
  return v;
}

/**
 * The object the schema sees: as it was read when it came from text (so fields the
 * normalized resource drops are still checked), else rebuilt from the resource. Either way
 * in the internal apiVersion, whose schema is the one compiled in, and without `status`,
 * which config never sets.
 */
function objectToValidate(resource: AnyResource): Record<string, unknown> {
  const raw = rawObjects.get(resource);
  const base = raw ?? { metadata: resource.metadata, spec: resource.spec };
  const { status: _status, source: _source, originalApiVersion: _original, ...rest } = base as Record<string, unknown>;
  const out: Record<string, unknown> = { ...rest, apiVersion: resource.apiVersion, kind: resource.kind };
  if (raw === undefined) {
    // A resource built in code carries the config store's bookkeeping; the schema has no opinion on it.
    const { resourceVersion: _rv, generation: _g, creationTimestamp: _ct, ...metadata } = resource.metadata;
    out.metadata = metadata;
  }
  return out;
}

/** Schema problems of one resource; paths are field paths, positions are filled in by the caller. */
export function validateSchema(resource: AnyResource): Diagnostic[] {
  const validator = validatorFor(resource.kind);
  const data = objectToValidate(resource);
  const diagnostics = schemaErrorsToDiagnostics(validator.validate(data), data);
  if (validator.probeUnknownFields) {
    for (const unknown of findUnknownFields(data, validator.validate, validator.schemaModules)) {
      diagnostics.push({
        severity: "error",
        path: unknown.path,
        message: `unknown field "${unknown.key}"`,
        fix: unknown.suggestion ? `did you mean "${unknown.suggestion}"?` : "remove it; check the spelling against the Istio reference for this kind",
      });
    }
  }
  return diagnostics;
}
