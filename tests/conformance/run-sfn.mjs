// Runs conformance scenarios in aws-local-stepfunctions and writes one JSON trace per
// scenario, for crates/local/tests/conformance.rs to compare with our engine.
//
// Usage: node run-sfn.mjs --out <dir> <scenario.json>...
//
// A scenario (paths are relative to the repository root):
//   {
//     "definition": "tests/conformance/definitions/x.asl.json",   // or statemachine/*.asl.json
//     "substitutions": {"Name": "value"},          // DefinitionSubstitutions, ${Name}
//     "executionName": "run-1",                     // default: the scenario file's stem
//     "input": {...},
//     "tasks": {"<resource after substitution>": [
//        {"output": ...} | {"error": "E", "cause": "C"}, optionally with "sleepSeconds": n
//     ]},
//     "knownDifferences": [...]                     // read by the Rust side only
//   }
// Each resource answers from its own queue, in order; an exhausted queue fails the task
// with Conformance.QueueExhausted. Wait and Retry pauses are overridden to 0 here; our
// engine runs them in virtual time.
//
// Every definition is also validated with asl-validator (after substitution).

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  StateMachine,
  ExecutionError,
  ExecutionTimeoutError,
  ExecutionAbortedError,
} from 'aws-local-stepfunctions';
import aslValidator from 'asl-validator';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const packageVersion = (name) =>
  JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
const sfnVersion = packageVersion('aws-local-stepfunctions');
const validatorVersion = packageVersion('asl-validator');

export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:conformance';

function substitute(value, substitutions) {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z0-9_.-]+)\}/g, (whole, name) => {
      if (!(name in substitutions)) {
        throw new Error(`\${${name}} has no value in the scenario's substitutions`);
      }
      return substitutions[name];
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, substitutions));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, substitutions)]));
  }
  return value;
}

function taskStates(definition) {
  return Object.entries(definition.States).filter(([, state]) => state.Type === 'Task');
}

function stateNamesOfType(definition, type) {
  return Object.entries(definition.States)
    .filter(([, state]) => state.Type === type)
    .map(([name]) => name);
}

function scriptedHandlers(definition, tasks) {
  const queues = new Map(Object.entries(tasks ?? {}).map(([resource, results]) => [resource, [...results]]));
  const handlers = {};
  for (const [name, state] of taskStates(definition)) {
    handlers[name] = async () => {
      const queue = queues.get(state.Resource) ?? [];
      const next = queue.shift();
      if (next === undefined) {
        throw Object.assign(new Error(`no scripted result left for ${state.Resource}`), {
          name: 'Conformance.QueueExhausted',
        });
      }
      if (next.sleepSeconds) {
        await new Promise((done) => setTimeout(done, next.sleepSeconds * 1000));
      }
      if ('error' in next) {
        throw Object.assign(new Error(next.cause ?? ''), { name: next.error });
      }
      return next.output;
    };
  }
  return handlers;
}

async function runScenario(scenarioPath) {
  const scenarioText = readFileSync(scenarioPath, 'utf8');
  const scenario = JSON.parse(scenarioText);
  const definitionText = readFileSync(join(repoRoot, scenario.definition), 'utf8');
  const definition = substitute(JSON.parse(definitionText), scenario.substitutions ?? {});

  const validation = aslValidator(definition, { checkArn: true, checkPaths: true });
  if (!validation.isValid) {
    throw new Error(
      `asl-validator ${validatorVersion} rejects ${scenario.definition}:\n${validation.errorsText('\n')}`,
    );
  }

  const name = scenario.executionName ?? basename(scenarioPath).replace(/\.json$/, '');
  const executionArn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
  const zero = (names) => Object.fromEntries(names.map((n) => [n, 0]));
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false } });
  const execution = machine.run(scenario.input ?? {}, {
    overrides: {
      taskResourceLocalHandlers: scriptedHandlers(definition, scenario.tasks),
      waitTimeOverrides: zero(stateNamesOfType(definition, 'Wait')),
      retryIntervalOverrides: zero(taskStates(definition).map(([n]) => n)),
    },
    context: { Execution: { Id: executionArn, Name: name } },
  });
  const events = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) events.push(event);
  })();

  const trace = {
    implementation: `aws-local-stepfunctions@${sfnVersion} on node ${process.version}`,
    scenario: scenarioPath.startsWith(repoRoot) ? scenarioPath.slice(repoRoot.length + 1) : scenarioPath,
    // What the trace was made from: the Rust test refuses a trace whose inputs changed.
    inputs: { scenario: JSON.parse(scenarioText), definition: definitionText },
    statesEntered: [],
    retries: 0,
    status: 'RUNNING',
    output: null,
    error: null,
    cause: null,
  };
  try {
    trace.output = await execution.result;
    trace.status = 'SUCCEEDED';
  } catch (error) {
    if (error instanceof ExecutionTimeoutError) trace.status = 'TIMED_OUT';
    else if (error instanceof ExecutionAbortedError) trace.status = 'ABORTED';
    else if (error instanceof ExecutionError) trace.status = 'FAILED';
    else throw error;
  }
  await collecting;
  for (const event of events) {
    if (event.type === 'StateEntered') trace.statesEntered.push(event.state.name);
    if (event.type === 'StateRetried') trace.retries += 1;
    if (event.type === 'ExecutionFailed') {
      trace.error = event.Error ?? null;
      trace.cause = event.Cause === undefined || event.Cause === null ? null : String(event.Cause);
    }
  }
  return trace;
}

async function main(argv) {
  const outIndex = argv.indexOf('--out');
  if (outIndex < 0 || outIndex + 1 >= argv.length) {
    throw new Error('usage: node run-sfn.mjs --out <dir> <scenario.json>...');
  }
  const out = resolve(argv[outIndex + 1]);
  const scenarios = argv.filter((_, i) => i !== outIndex && i !== outIndex + 1).map((p) => resolve(p));
  if (scenarios.length === 0) throw new Error('no scenario given');
  mkdirSync(out, { recursive: true });
  for (const scenarioPath of scenarios) {
    const trace = await runScenario(scenarioPath);
    const target = join(out, basename(scenarioPath));
    writeFileSync(target, `${JSON.stringify(trace, null, 2)}\n`);
    console.log(`aws-local-stepfunctions: ${basename(scenarioPath)} ended ${trace.status}: ${trace.statesEntered.join(' > ')}`);
  }
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error.message ?? error);
  process.exit(1);
});
