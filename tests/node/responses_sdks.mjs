// The Vercel AI SDK's default model (createOpenAI(...)(model): OpenAI's Responses API) through the
// gateway: generateText, streamText, and a tool loop of two steps.
// Usage: node responses_sdks.mjs <gateway url> <key> <model>
// Prints one JSON object: {case: what came back}. Run by tests/e2e/test_node_sdks.py.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";

const [url, apiKey, model] = process.argv.slice(2);
const sent = []; // request bodies, to tell what the SDK sent
const provider = createOpenAI({ baseURL: url + "/v1", apiKey,
                                fetch: (u, init) => { sent.push(String(init?.body ?? "")); return fetch(u, init); } });

const weather = tool({
  description: "The weather in a city",
  inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
  execute: async ({ city }) => ({ city, sky: "clear" }),
});

async function outcome(call) {
  try {
    return await call();
  } catch (e) {
    return { error: String(e) };
  }
}

const out = {
  generateText: await outcome(async () => {
    const r = await generateText({ model: provider(model), prompt: "Say hello", maxRetries: 0 });
    return { text: r.text, finishReason: r.finishReason, outputTokens: r.usage.outputTokens };
  }),
  streamText: await outcome(async () => {
    const r = streamText({ model: provider(model), prompt: "Tell me a story", maxRetries: 0,
                           onError: () => {} });
    let text = "";
    for await (const part of r.fullStream) {
      if (part.type === "error") throw part.error;
      if (part.type === "text-delta") text += part.text;
    }
    return { text, finishReason: await r.finishReason };
  }),
  tools: await outcome(async () => {
    const r = await generateText({
      model: provider(model), prompt: "What's the weather in Oslo?", tools: { get_weather: weather },
      stopWhen: stepCountIs(3), maxRetries: 0,
      prepareStep: ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? "required" : "auto" }),
    });
    return { steps: r.steps.length, toolCalls: r.steps.flatMap((s) => s.toolCalls.map((c) => c.toolName)),
             text: r.text };
  }),
  // a second turn: the SDK sends the first answer back as an item_reference (store is on by default)
  conversation: await outcome(async () => {
    const first = await generateText({ model: provider(model), prompt: "Say hello", maxRetries: 0 });
    sent.length = 0;
    const second = await generateText({
      model: provider(model), maxRetries: 0,
      messages: [{ role: "user", content: "Say hello" }, ...first.response.messages,
                 { role: "user", content: "Once more" }],
    });
    return { text: second.text, referenced: sent.some((body) => body.includes('"item_reference"')) };
  }),
};
console.log(JSON.stringify(out));
