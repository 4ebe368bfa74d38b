# UDPServer.py -- the textbook UDP server.
# usage: python3 UDPServer.py [PORT]
import sys
from socket import *
serverPort = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('127.0.0.1', serverPort))
print('listening on %s:%d (udp)' % serverSocket.getsockname(), flush=True)
print('The server is ready to receive', flush=True)
while True:
    message, clientAddress = serverSocket.recvfrom(2048)
    modifiedMessage = message.decode().upper()
    serverSocket.sendto(modifiedMessage.encode(), clientAddress)
