import { describeDeviceStore } from './conformance.js';
import { MemoryDeviceStore } from './memory.js';

describeDeviceStore('memory', async () => ({ store: new MemoryDeviceStore() }));
